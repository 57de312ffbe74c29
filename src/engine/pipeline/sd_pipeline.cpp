// SdPipeline: loading an SD1.x/SD2.x model and running generations (see the header).
#include "engine/pipeline/sd_pipeline.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "engine/adapt/lora.h"
#include "engine/model_files.h"
#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "engine/nets/vae_tiled.h"
#include "engine/pipeline/denoiser.h"
#include "engine/pipeline/device.h"
#include "engine/pipeline/edit_denoiser.h"
#include "engine/pipeline/edit_input.h"
#include "engine/pipeline/img2img.h"
#include "engine/pipeline/request_loras.h"
#include "engine/pipeline/text_conditioner.h"
#include "engine/pipeline/unet_runner.h"
#include "engine/sample/model_sampling.h"
#include "engine/sample/noise.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"

namespace easel::engine {

struct SdPipeline::Impl {
  ModelInfo info;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  std::unique_ptr<TextConditioner> text;
  UNet unet{nullptr};
  Vae vae{nullptr};
  DiscreteSchedule schedule;
  Prediction prediction = Prediction::kEps;
  double vae_scale = 0.18215;
  ModelFileOptions options;
  std::vector<std::string> warnings;  // of the last call
  // The refiner of the last request that named one (loaded on first use, kept for the next).
  std::unique_ptr<SdPipeline> refiner;
  SpeedOptions speed;
  std::unique_ptr<UNetRunner> runner;  // the UNet's step runner (CUDA graphs when on)

  void ApplySpeed(const SpeedOptions& s);

  bool UseTiling(int64_t height, int64_t width, const std::string& tiling) const;
  // latents [N, 4, h, w] scaled -> [N, 3, H, W] in [-1, 1], float32 CPU
  torch::Tensor Decode(const torch::Tensor& latents, const std::string& tiling);
  // images [N, 3, H, W] in [-1, 1] -> scaled posterior means [N, 4, H/8, W/8], float32 CPU
  torch::Tensor Encode(const torch::Tensor& images, const std::string& tiling);
};

SdPipeline::SdPipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SdPipeline::~SdPipeline() = default;
const ModelInfo& SdPipeline::info() const {
  return impl_->info;
}
const std::vector<std::string>& SdPipeline::warnings() const {
  return impl_->warnings;
}
const SpeedOptions& SdPipeline::speed_options() const {
  return impl_->speed;
}

void SdPipeline::Impl::ApplySpeed(const SpeedOptions& s) {
  speed = s;
  runner = std::make_unique<UNetRunner>(*unet, s.cuda_graphs && device.is_cuda());
  text->SetCudaGraphs(s.cuda_graphs && device.is_cuda());
  if (!device.is_cuda()) return;
  if (s.cudnn_benchmark) at::globalContext().setBenchmarkCuDNN(true);
  torch::NoGradGuard no_grad;
  const auto format =
      s.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  // The VAE too: its convolutions then run NHWC and its GroupNorms take the fused kernels
  // (fused_ops.h) instead of copying to NCHW and back.
  for (torch::nn::Module* m :
       {static_cast<torch::nn::Module*>(unet.get()), static_cast<torch::nn::Module*>(vae.get())})
    for (auto& p : m->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(format));
}

void SdPipeline::SetSpeedOptions(const SpeedOptions& options) {
  impl_->ApplySpeed(options);
  if (impl_->refiner) impl_->refiner->SetSpeedOptions(options);
}

Result<std::unique_ptr<SdPipeline>> SdPipeline::Load(
    const std::string& model_path, const std::string& vae_path, const std::string& device,
    const std::string& dtype, const std::string& prediction, const ModelFileOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Status st = CatchAll([&] {
    Placement place = ResolvePlacement(device, dtype).ValueOrThrow();
    impl->device = place.device;
    impl->dtype = place.dtype;
    ModelFiles files = LoadModelFiles(model_path, vae_path, options).ValueOrThrow();

    impl->text = TextConditioner::Load(files, impl->device, impl->dtype).ValueOrThrow();

    torch::NoGradGuard no_grad;
    const std::string name = files.model_name;
    // The nets are built with uninitialised parameters (nets/layers.h); loading converts each
    // file tensor once, straight to the final device and dtype.
    const WeightPlacement placement{impl->device, impl->dtype};
    Status s;
    impl->unet = UNet(UNetConfig::FromWeights(files.unet, files.unet_heads));
    s = LoadIntoModule(*impl->unet, files.unet, "UNet of " + name, {}, placement);
    if (!s.ok()) throw Error(s);
    files.unet.clear();

    impl->vae = Vae(VaeConfig::FromWeights(files.vae));
    s = LoadVaeWeights(*impl->vae, files.vae,
                       "VAE of " + (files.vae_name.empty() ? name : files.vae_name), placement);
    if (!s.ok()) throw Error(s);
    files.vae.clear();

    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(impl->unet.get()),
                                 static_cast<torch::nn::Module*>(impl->vae.get())}) {
      m->eval();
      m->to(impl->device, impl->dtype);  // already there: a no-op kept as a safety net
    }

    ScheduleConfig sc;
    sc.beta_start = files.scheduler.beta_start;
    sc.beta_end = files.scheduler.beta_end;
    sc.num_train_timesteps = static_cast<int>(files.scheduler.num_train_timesteps);
    if (files.scheduler.beta_schedule == "linear") {
      sc.beta_schedule = BetaSchedule::kLinear;
    } else if (files.scheduler.beta_schedule == "scaled_linear") {
      sc.beta_schedule = BetaSchedule::kScaledLinear;
    } else {
      throw Error(Code::kUnsupported, "beta schedule '" + files.scheduler.beta_schedule + "' of " +
                                          name + " is not supported: linear or scaled_linear");
    }
    impl->schedule = DiscreteSchedule(sc);
    if (!prediction.empty()) {
      impl->prediction = ParsePrediction(prediction).ValueOrThrow();
    } else {
      impl->prediction =
          files.scheduler.prediction == library::Prediction::kV ? Prediction::kV : Prediction::kEps;
    }
    impl->vae_scale = files.vae_scaling_factor;

    ModelInfo& info = impl->info;
    info.family = library::FamilyName(files.det.family);
    info.prediction = PredictionName(impl->prediction);
    info.name = files.model_name;
    info.path = files.model_path;
    info.vae_name = files.vae_name;
    info.vae_path = files.vae_path;

    SpeedOptions speed;
    if (const char* graphs = std::getenv("EASEL_CUDA_GRAPHS"))
      speed.cuda_graphs = std::string(graphs) != "0";
    impl->ApplySpeed(speed);
  });
  if (!st.ok()) return st;
  return std::unique_ptr<SdPipeline>(new SdPipeline(std::move(impl)));
}

namespace {

// Image i of the batch draws its sampler noise from its own generator seeded with seed + i + 1
// (ComfyUI adds 1 on the CPU so step noise differs from the initial noise),
// so a batch image equals the single image of that seed (ComfyUI's default noise sampler,
// one per image).
class PerImageNoise : public NoiseSampler {
 public:
  PerImageNoise(int64_t seed, int batch, std::vector<int64_t> image_shape, torch::Device device) {
    for (int i = 0; i < batch; ++i)
      samplers_.emplace_back(static_cast<uint64_t>(seed + i) + 1, image_shape, torch::kFloat32,
                             device);
  }
  torch::Tensor operator()(float sigma, float sigma_next) override {
    std::vector<torch::Tensor> parts;
    for (auto& s : samplers_) parts.push_back(s(sigma, sigma_next));
    return torch::cat(parts, 0);
  }

 private:
  std::vector<GaussianNoiseSampler> samplers_;
};

// [N, 3, H, W] in [-1, 1] -> N images of H*W*3 bytes. Truncates like ComfyUI and A1111
// (255 * clamp((x + 1) / 2, 0, 1) cast to uint8), so PNG bytes match theirs.
std::vector<GeneratedImage> ToImages(const torch::Tensor& decoded, int64_t first_seed) {
  torch::Tensor bytes = ((decoded + 1.0) / 2.0)
                            .clamp(0.0, 1.0)
                            .mul(255.0)
                            .to(torch::kUInt8)
                            .permute({0, 2, 3, 1})
                            .contiguous();
  std::vector<GeneratedImage> out;
  for (int64_t i = 0; i < bytes.size(0); ++i) {
    GeneratedImage img;
    img.height = static_cast<int>(bytes.size(1));
    img.width = static_cast<int>(bytes.size(2));
    img.seed = first_seed + i;
    const uint8_t* p = bytes[i].data_ptr<uint8_t>();
    img.rgb.assign(p, p + bytes[i].numel());
    out.push_back(std::move(img));
  }
  return out;
}

}  // namespace

// VAE calls with the tiling decision (request's vae_tiling: auto | on | off).
bool SdPipeline::Impl::UseTiling(int64_t height, int64_t width, const std::string& tiling) const {
  if (tiling == "on") return true;
  if (tiling == "off") return false;
  return ShouldTile(height, width, 1, device, kQueryAvailableBytes, vae->config(), dtype);
}

torch::Tensor SdPipeline::Impl::Decode(const torch::Tensor& latents, const std::string& tiling) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  // One image at a time: the VAE's activations dominate memory at large sizes.
  for (int64_t i = 0; i < latents.size(0); ++i) {
    torch::Tensor z = (latents.slice(0, i, i + 1) / vae_scale).to(device, dtype);
    const int64_t f = vae->config().DownFactor();
    torch::Tensor out;
    if (UseTiling(z.size(2) * f, z.size(3) * f, tiling)) {
      out = DecodeTiled(*vae, z, VaeTiling{});
    } else {
      try {
        out = vae->Decode(z);
      } catch (const c10::Error& e) {
        // Out of device memory in "auto": the estimate was optimistic; tile instead.
        if (tiling != "auto" || std::string(e.what()).find("out of memory") == std::string::npos)
          throw;
        out = DecodeTiled(*vae, z, VaeTiling{});
      }
    }
    if (dtype == torch::kFloat16 && !torch::isfinite(out).all().item<bool>()) {
      // fp16 overflowed (SDXL's VAE does on real images): this image again in float32, the
      // VAE's weights upcast for the call and cast back after it.
      vae->to(torch::kFloat32);
      try {
        torch::Tensor z32 = z.to(torch::kFloat32);
        out = UseTiling(z.size(2) * f, z.size(3) * f, tiling) ? DecodeTiled(*vae, z32, VaeTiling{})
                                                              : vae->Decode(z32);
      } catch (...) {
        vae->to(dtype);
        throw;
      }
      vae->to(dtype);
    }
    parts.push_back(out.to(torch::kCPU, torch::kFloat32).clamp(-1.0, 1.0));
  }
  return torch::cat(parts, 0);
}

torch::Tensor SdPipeline::Impl::Encode(const torch::Tensor& images, const std::string& tiling) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < images.size(0); ++i) {
    torch::Tensor x = images.slice(0, i, i + 1).to(device, dtype);
    torch::Tensor mean = UseTiling(x.size(2), x.size(3), tiling) ? EncodeTiled(*vae, x, VaeTiling{})
                                                                 : vae->Encode(x);
    parts.push_back(mean.to(torch::kCPU, torch::kFloat32) * vae_scale);
  }
  return torch::cat(parts, 0);
}

Result<std::pair<Conditioning, Conditioning>> SdPipeline::EncodePrompts(
    const std::string& prompt, const std::string& negative, const ConditionParams& params) {
  return impl_->text->Encode(prompt, negative, params);
}

namespace {

// One pass's latent-space inputs besides the noisy start.
struct PassInputs {
  torch::Tensor init;    // [B, 4, h, w] scaled init latent; undefined for text-to-image
  torch::Tensor mask;    // [1, 1, h, w] latent mask (1 = repaint); undefined: no masking
  torch::Tensor noise;   // [B, 4, h, w] the initial noise (also the masked region's noise)
  torch::Tensor concat;  // [B, 5, h, w] for 9-channel UNets: mask ++ masked-image latent
};

}  // namespace

torch::Tensor SdPipeline::SampleWith(const GenerateRequest& request, const EditInput* edit,
                                     const ProgressFn& progress) {
  namespace F = torch::nn::functional;
  Impl& m = *impl_;
  GenerateRequest r = request;
  if (r.model_path.empty()) r.model_path = m.info.path;
  Status v = Validate(r);
  if (!v.ok()) throw Error(v);
  if (r.seed < 0) throw Error(Code::kInvalidArgument, "seed must be resolved before sampling");
  if (!r.init_image.empty() && edit == nullptr)
    throw Error(Code::kInternal, "SampleWith: an init image but no prepared edit input");

  std::string sampler, scheduler_override;
  v = ResolveSamplerName(r.sampler, &sampler, &scheduler_override);
  if (!v.ok()) throw Error(v);
  const std::string scheduler =
      ResolveSchedulerName(scheduler_override.empty() ? r.scheduler : scheduler_override)
          .ValueOrThrow();

  // LoRAs patch the weights for this call only; the patcher restores them bit for bit when
  // it goes out of scope, whether sampling ends, fails or is cancelled.
  m.warnings.clear();
  LoraPatcher patcher;
  Status applied = ApplyRequestLoras(r, *m.unet, *m.text, patcher, &m.warnings);
  if (!applied.ok()) throw Error(applied);

  // The refiner (loaded once, then kept while requests name the same file).
  Impl* refiner = nullptr;
  if (!r.refiner_checkpoint.empty() && r.refiner_switch_at < 1.0) {
    if (!m.refiner || m.refiner->info().path != r.refiner_checkpoint) {
      m.refiner.reset();
      const char* dtype = m.dtype == torch::kFloat16    ? "fp16"
                          : m.dtype == torch::kBFloat16 ? "bf16"
                                                        : "fp32";
      auto loaded = Load(r.refiner_checkpoint, "", m.device.str(), dtype, "", m.options);
      if (!loaded.ok()) {
        // Refiner files often ship without a VAE (the base's decodes the result anyway):
        // borrow the base model's VAE source.
        namespace fs = std::filesystem;
        std::string vae = m.info.vae_path;
        if (vae.empty()) vae = fs::is_directory(m.info.path) ? m.info.path + "/vae" : m.info.path;
        auto retry = Load(r.refiner_checkpoint, vae, m.device.str(), dtype, "", m.options);
        if (retry.ok()) loaded = std::move(retry);
      }
      if (!loaded.ok())
        throw Error(loaded.status().code(), "refiner: " + loaded.status().message());
      m.refiner = std::move(loaded).ValueOrThrow();
      m.refiner->SetSpeedOptions(m.speed);
    }
    refiner = m.refiner->impl_.get();
  }
  for (Impl* model : {&m, refiner}) {
    if (model == nullptr) continue;
    const int64_t in = model->unet->config().in_channels;
    if (in != 4 && in != 9)
      throw Error(Code::kUnsupported, model->info.name + "'s UNet takes " + std::to_string(in) +
                                          " input channels: Easel runs 4 (normal) and 9 "
                                          "(inpainting) channel models");
  }

  torch::NoGradGuard no_grad;
  const int64_t width = edit ? edit->width : r.width, height = edit ? edit->height : r.height;
  const int batch = r.batch;

  // Mask ++ masked-image latent for a 9-channel UNet (diffusers' / A1111's inpainting
  // conditioning): the binarised mask at latent size (nearest) and the latent of the image
  // with the masked pixels set to 0 (grey). Without a mask everything counts as masked.
  auto make_concat = [&](Impl& model, const torch::Tensor& image, const torch::Tensor& mask,
                         int64_t h, int64_t w) {
    torch::Tensor px = image.defined() ? image : torch::zeros({1, 3, h * 8, w * 8});
    torch::Tensor bin =
        mask.defined() ? mask.ge(0.5).to(torch::kFloat32) : torch::ones({1, 1, h * 8, w * 8});
    torch::Tensor masked = model.Encode(px * (1.0 - bin), r.vae_tiling);
    torch::Tensor small = F::interpolate(
        bin, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kNearest));
    return torch::cat({small, masked}, 1).expand({batch, -1, -1, -1}).contiguous();
  };

  int total_steps = 0;
  int done = 0;
  auto start = std::chrono::steady_clock::now();

  // Samples sigmas with `model` from x; the noise sampler continues across calls.
  auto run = [&](Impl& model, const Conditioning& cond, const Conditioning& uncond, torch::Tensor x,
                 const torch::Tensor& sigmas, const PassInputs& in, NoiseSampler& noise_sampler) {
    const bool concat = model.unet->config().in_channels == 9;
    CfgDenoiser cfg(*model.unet, model.schedule, model.prediction, cond, uncond, r.cfg_scale,
                    model.dtype, concat ? in.concat : torch::Tensor());
    if (model.runner) cfg.UseRunner(model.runner.get());
    DenoiseFn fn = cfg.AsFn();
    std::unique_ptr<MaskedDenoiser> masked;
    if (in.mask.defined()) {
      masked = std::make_unique<MaskedDenoiser>(
          fn, in.mask.to(model.device), in.init.to(model.device), in.noise.to(model.device));
      fn = masked->AsFn();
    }
    StepCallback callback = [&](int, int, const torch::Tensor&, const torch::Tensor& denoised) {
      ++done;
      if (!progress) return true;
      Progress p;
      p.step = done;
      p.total = total_steps;
      p.denoised = denoised;
      p.seconds_per_step =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / done;
      return progress(p);
    };
    return Sample(sampler, fn, x.to(model.device), sigmas.to(model.device), noise_sampler,
                  callback);
  };

  // ---- First pass: text-to-image or img2img at width x height.
  const int64_t lh = height / 8, lw = width / 8;
  PassInputs in;
  in.noise = BatchNoise(static_cast<uint64_t>(r.seed), batch, 4, static_cast<int>(lh),
                        static_cast<int>(lw));
  torch::Tensor sigmas = MakeSigmas(scheduler, m.schedule, r.steps);
  torch::Tensor x;
  if (edit != nullptr) {
    torch::Tensor init = m.Encode(edit->image, r.vae_tiling);  // [1, 4, ...]
    if (edit->latent_resize) init = UpscaleLatent(init, lh, lw, "Latent");
    in.init = init.expand({batch, -1, -1, -1}).contiguous();
    if (edit->mask.defined()) {
      // Area average: the share of each 8x8 cell to repaint.
      in.mask = F::interpolate(
          edit->mask,
          F::InterpolateFuncOptions().size(std::vector<int64_t>{lh, lw}).mode(torch::kArea));
      if (r.inpainting_fill == 2) in.init = in.init * (1.0 - in.mask) + in.noise * in.mask;
      if (r.inpainting_fill == 3) in.init = in.init * (1.0 - in.mask);
    }
    sigmas = sigmas.slice(0, Img2ImgStartIndex(r.steps, r.denoising_strength));
    x = in.init + in.noise * sigmas[0];
  } else {
    const bool max_denoise = IsMaxDenoise(m.schedule, sigmas[0].item<float>());
    x = NoiseScaling(sigmas[0], in.noise, torch::zeros_like(in.noise), max_denoise);
  }
  if (m.unet->config().in_channels == 9)
    in.concat = make_concat(m, edit ? edit->image : torch::Tensor(),
                            edit ? edit->mask : torch::Tensor(), lh, lw);

  const int64_t pass_steps = sigmas.size(0) - 1;
  const int64_t switch_step =
      refiner ? RefinerSwitchStep(pass_steps, r.refiner_switch_at) : pass_steps;
  const int hr_steps = r.hr_second_pass_steps > 0 ? r.hr_second_pass_steps : r.steps;
  const int64_t hr_start = Img2ImgStartIndex(hr_steps, r.hr_denoising_strength);
  total_steps = static_cast<int>(pass_steps + (r.enable_hr ? hr_steps - hr_start : 0));

  ConditionParams cp;
  cp.clip_skip = r.clip_skip;
  cp.width = static_cast<int>(width);
  cp.height = static_cast<int>(height);
  cp.embeddings_dir = r.embeddings_dir;
  auto [cond, uncond] = EncodePrompts(r.prompt, r.negative_prompt, cp).ValueOrThrow();

  PerImageNoise noise_sampler(r.seed, batch, {1, 4, lh, lw}, m.device);
  torch::Tensor latent = x;
  if (switch_step > 0)
    latent = run(m, cond, uncond, latent, sigmas.slice(0, 0, switch_step + 1), in, noise_sampler);
  if (switch_step < pass_steps) {
    // The refiner continues on the remaining sigmas with its own conditioning and UNet.
    auto [rcond, runcond] = refiner->text->Encode(r.prompt, r.negative_prompt, cp).ValueOrThrow();
    PassInputs rin = in;
    if (refiner->unet->config().in_channels == 9)
      rin.concat = make_concat(*refiner, edit ? edit->image : torch::Tensor(),
                               edit ? edit->mask : torch::Tensor(), lh, lw);
    latent =
        run(*refiner, rcond, runcond, latent, sigmas.slice(0, switch_step), rin, noise_sampler);
  }
  latent = latent.to(torch::kCPU, torch::kFloat32);
  if (!r.enable_hr) return latent;

  // ---- Hires fix: upscale, then img2img at the hires size with the same seed.
  const int64_t hh = OutputHeight(r), hw = OutputWidth(r);
  torch::Tensor init2;
  if (IsLatentUpscaler(r.hr_upscaler)) {
    init2 = UpscaleLatent(latent, hh / 8, hw / 8, r.hr_upscaler);
  } else {
    init2 =
        m.Encode(UpscaleImage(m.Decode(latent, r.vae_tiling), hh, hw, r.hr_upscaler), r.vae_tiling);
  }
  PassInputs hin;
  hin.noise = BatchNoise(static_cast<uint64_t>(r.seed), batch, 4, static_cast<int>(hh / 8),
                         static_cast<int>(hw / 8));
  if (m.unet->config().in_channels == 9)
    hin.concat = make_concat(m, torch::Tensor(), torch::Tensor(), hh / 8, hw / 8);
  torch::Tensor sigmas2 = MakeSigmas(scheduler, m.schedule, hr_steps).slice(0, hr_start);
  cp.width = static_cast<int>(hw);
  cp.height = static_cast<int>(hh);
  auto [hcond, huncond] = EncodePrompts(r.prompt, r.negative_prompt, cp).ValueOrThrow();
  PerImageNoise hr_noise(r.seed, batch, {1, 4, hh / 8, hw / 8}, m.device);
  return run(m, hcond, huncond, init2 + hin.noise * sigmas2[0], sigmas2, hin, hr_noise)
      .to(torch::kCPU, torch::kFloat32);
}

Result<torch::Tensor> SdPipeline::SampleLatents(const GenerateRequest& request,
                                                const ProgressFn& progress) {
  torch::Tensor latent;
  Status st = CatchAll([&] {
    EditInput edit;
    if (!request.init_image.empty()) edit = PrepareEdit(request).ValueOrThrow();
    latent = SampleWith(request, request.init_image.empty() ? nullptr : &edit, progress);
  });
  if (!st.ok()) return st;
  return latent;
}

Result<torch::Tensor> SdPipeline::DecodeLatents(const torch::Tensor& latents,
                                                const std::string& vae_tiling) {
  torch::Tensor images;
  Status st = CatchAll([&] { images = impl_->Decode(latents, vae_tiling); });
  if (!st.ok()) return st;
  return images;
}

Result<torch::Tensor> SdPipeline::EncodeImages(const torch::Tensor& images,
                                               const std::string& vae_tiling) {
  torch::Tensor latents;
  Status st = CatchAll([&] {
    const int64_t f = impl_->vae->config().DownFactor();
    if (images.dim() != 4 || images.size(1) != 3 || images.size(2) % f || images.size(3) % f)
      throw Error(Code::kInvalidArgument,
                  "EncodeImages: expected [N, 3, H, W] with H and W "
                  "multiples of " +
                      std::to_string(f));
    latents = impl_->Encode(images, vae_tiling);
  });
  if (!st.ok()) return st;
  return latents;
}

Result<std::vector<GeneratedImage>> SdPipeline::Generate(const GenerateRequest& request,
                                                         const ProgressFn& progress) {
  std::vector<GeneratedImage> images;
  Status st = CatchAll([&] {
    const bool editing = !request.init_image.empty();
    EditInput edit;
    if (editing) edit = PrepareEdit(request).ValueOrThrow();
    torch::Tensor latents = SampleWith(request, editing ? &edit : nullptr, progress);
    torch::Tensor decoded = impl_->Decode(latents, request.vae_tiling);
    if (editing) decoded = PasteBack(edit, decoded);
    images = ToImages(decoded, request.seed);
  });
  if (!st.ok()) return st;
  return images;
}

Result<std::vector<GeneratedImage>> SdPipeline::Txt2Img(const GenerateRequest& request,
                                                        const ProgressFn& progress) {
  return Generate(request, progress);
}

}  // namespace easel::engine

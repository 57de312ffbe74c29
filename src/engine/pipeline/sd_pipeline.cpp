// SdPipeline: loading an SD1.x/SD2.x model and running text-to-image (see the header).
#include "engine/pipeline/sd_pipeline.h"

#include <torch/torch.h>

#include <chrono>

#include "engine/adapt/lora.h"
#include "engine/model_files.h"
#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "engine/pipeline/denoiser.h"
#include "engine/pipeline/device.h"
#include "engine/pipeline/request_loras.h"
#include "engine/pipeline/text_conditioner.h"
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
  std::vector<std::string> warnings;  // of the last call
};

SdPipeline::SdPipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SdPipeline::~SdPipeline() = default;
const ModelInfo& SdPipeline::info() const {
  return impl_->info;
}
const std::vector<std::string>& SdPipeline::warnings() const {
  return impl_->warnings;
}

Result<std::unique_ptr<SdPipeline>> SdPipeline::Load(
    const std::string& model_path, const std::string& vae_path, const std::string& device,
    const std::string& dtype, const std::string& prediction, const ModelFileOptions& options) {
  auto impl = std::make_unique<Impl>();
  Status st = CatchAll([&] {
    Placement place = ResolvePlacement(device, dtype).ValueOrThrow();
    impl->device = place.device;
    impl->dtype = place.dtype;
    ModelFiles files = LoadModelFiles(model_path, vae_path, options).ValueOrThrow();

    impl->text = TextConditioner::Load(files, impl->device, impl->dtype).ValueOrThrow();

    torch::NoGradGuard no_grad;
    const std::string name = files.model_name;
    Status s;
    impl->unet = UNet(UNetConfig::FromWeights(files.unet, files.unet_heads));
    s = LoadIntoModule(*impl->unet, files.unet, "UNet of " + name);
    if (!s.ok()) throw Error(s);
    files.unet.clear();

    impl->vae = Vae(VaeConfig::FromWeights(files.vae));
    s = LoadVaeWeights(*impl->vae, files.vae,
                       "VAE of " + (files.vae_name.empty() ? name : files.vae_name));
    if (!s.ok()) throw Error(s);
    files.vae.clear();

    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(impl->unet.get()),
                                 static_cast<torch::nn::Module*>(impl->vae.get())}) {
      m->eval();
      m->to(impl->device, impl->dtype);
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

Result<std::pair<Conditioning, Conditioning>> SdPipeline::EncodePrompts(
    const std::string& prompt, const std::string& negative, const ConditionParams& params) {
  return impl_->text->Encode(prompt, negative, params);
}

Result<torch::Tensor> SdPipeline::SampleLatents(const GenerateRequest& request,
                                                const ProgressFn& progress) {
  torch::Tensor latent;
  Status st = CatchAll([&] {
    Impl& m = *impl_;
    GenerateRequest r = request;
    if (r.model_path.empty()) r.model_path = m.info.path;
    Status v = Validate(r);
    if (!v.ok()) throw Error(v);
    if (r.seed < 0) throw Error(Code::kInvalidArgument, "seed must be resolved before sampling");

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

    ConditionParams cp;
    cp.clip_skip = r.clip_skip;
    cp.width = r.width;
    cp.height = r.height;
    auto [cond, uncond] = EncodePrompts(r.prompt, r.negative_prompt, cp).ValueOrThrow();

    torch::NoGradGuard no_grad;
    const int lh = r.height / 8, lw = r.width / 8;
    torch::Tensor noise = BatchNoise(static_cast<uint64_t>(r.seed), r.batch, 4, lh, lw);
    torch::Tensor sigmas = MakeSigmas(scheduler, m.schedule, r.steps);
    const bool max_denoise = IsMaxDenoise(m.schedule, sigmas[0].item<float>());
    torch::Tensor x =
        NoiseScaling(sigmas[0], noise, torch::zeros_like(noise), max_denoise).to(m.device);

    CfgDenoiser denoiser(*m.unet, m.schedule, m.prediction, cond, uncond, r.cfg_scale, m.dtype);
    PerImageNoise noise_sampler(r.seed, r.batch, {1, 4, lh, lw}, m.device);

    auto start = std::chrono::steady_clock::now();
    StepCallback callback = [&](int i, int total, const torch::Tensor&,
                                const torch::Tensor& denoised) {
      if (!progress) return true;
      Progress p;
      p.step = i + 1;
      p.total = total;
      p.denoised = denoised;
      p.seconds_per_step =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / p.step;
      return progress(p);
    };
    latent = Sample(sampler, denoiser.AsFn(), x, sigmas.to(m.device), noise_sampler, callback)
                 .to(torch::kCPU, torch::kFloat32);
  });
  if (!st.ok()) return st;
  return latent;
}

Result<torch::Tensor> SdPipeline::DecodeLatents(const torch::Tensor& latents) {
  torch::Tensor images;
  Status st = CatchAll([&] {
    Impl& m = *impl_;
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    // One image at a time: the VAE's activations dominate memory at large sizes.
    for (int64_t i = 0; i < latents.size(0); ++i) {
      torch::Tensor z = (latents.slice(0, i, i + 1) / m.vae_scale).to(m.device, m.dtype);
      parts.push_back(m.vae->Decode(z).to(torch::kCPU, torch::kFloat32).clamp(-1.0, 1.0));
    }
    images = torch::cat(parts, 0);
  });
  if (!st.ok()) return st;
  return images;
}

Result<std::vector<GeneratedImage>> SdPipeline::Txt2Img(const GenerateRequest& request,
                                                        const ProgressFn& progress) {
  auto latents = SampleLatents(request, progress);
  if (!latents.ok()) return latents.status();
  auto decoded = DecodeLatents(*latents);
  if (!decoded.ok()) return decoded.status();
  return ToImages(*decoded, request.seed);
}

}  // namespace easel::engine

// SdPipeline: loading an SD1.x/SD2.x model and running text-to-image (see the header).
#include "engine/pipeline/sd_pipeline.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "engine/adapt/lora.h"
#include "engine/model_files.h"
#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "engine/pipeline/denoiser.h"
#include "engine/pipeline/device.h"
#include "engine/sample/model_sampling.h"
#include "engine/sample/noise.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"
#include "engine/text/clip_tokenizer.h"
#include "engine/text/prompt_chunks.h"
#include "engine/text/prompt_parser.h"

namespace easel::engine {

struct SdPipeline::Impl {
  ModelInfo info;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  std::optional<text::ClipTokenizer> tokenizer;
  int pad_id = 0;
  ClipTextModel text_encoder{nullptr};
  UNet unet{nullptr};
  Vae vae{nullptr};
  DiscreteSchedule schedule;
  Prediction prediction = Prediction::kEps;
  double vae_scale = 0.18215;
  std::vector<std::string> warnings;  // of the last call

  // A prompt's 77-token chunks (A1111 syntax); extra-network tags such as <lora:...> are
  // removed first, since they are applied to the weights, not encoded.
  std::vector<text::TokenChunk> Chunks(const std::string& prompt) const;
};

std::vector<text::TokenChunk> SdPipeline::Impl::Chunks(const std::string& prompt) const {
  const std::string text = text::ExtractExtraNetworks(prompt).prompt;
  return text::ChunkPrompt(text::ParsePromptAttention(text), *tokenizer, pad_id);
}

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

    if (!files.vocab_path.empty()) {
      impl->tokenizer =
          text::ClipTokenizer::FromHfFiles(files.vocab_path, files.merges_path).ValueOrThrow();
    } else {
      impl->tokenizer = text::ClipTokenizer::FindDefault().ValueOrThrow();
    }
    impl->pad_id = static_cast<int>(files.pad_id);

    torch::NoGradGuard no_grad;
    const std::string name = files.model_name;
    ClipTextConfig text_config = files.TextConfig().ValueOrThrow();
    if (text_config.vocab_size < impl->tokenizer->vocab_size())
      throw Error(Code::kCorrupt, "the text encoder of " + name + " has " +
                                      std::to_string(text_config.vocab_size) +
                                      " token embeddings but its tokenizer has " +
                                      std::to_string(impl->tokenizer->vocab_size()) + " tokens");
    impl->text_encoder = ClipTextModel(text_config);
    Status s = LoadIntoModule(*impl->text_encoder, files.text_encoder, "text encoder of " + name);
    if (!s.ok()) throw Error(s);
    files.text_encoder.clear();

    impl->unet = UNet(UNetConfig::FromWeights(files.unet, files.unet_heads));
    s = LoadIntoModule(*impl->unet, files.unet, "UNet of " + name);
    if (!s.ok()) throw Error(s);
    files.unet.clear();

    impl->vae = Vae(VaeConfig::FromWeights(files.vae));
    s = LoadVaeWeights(*impl->vae, files.vae,
                       "VAE of " + (files.vae_name.empty() ? name : files.vae_name));
    if (!s.ok()) throw Error(s);
    files.vae.clear();

    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(impl->text_encoder.get()),
                                 static_cast<torch::nn::Module*>(impl->unet.get()),
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

// The request's LoRAs: its flags, then the prompt's <lora:name:te:unet> (and <lyco:...>) tags
// in A1111's semantics. Other extra networks (hypernetworks) are refused.
std::vector<LoraRequest> CollectLoras(const GenerateRequest& r) {
  std::vector<LoraRequest> out = r.loras;
  for (const std::string* p : {&r.prompt, &r.negative_prompt}) {
    for (const text::ExtraNetworkTag& tag : text::ExtractExtraNetworks(*p).tags) {
      if (tag.kind != "lora" && tag.kind != "lyco")
        throw Error(Code::kUnsupported, "the prompt uses <" + tag.kind + ":" + tag.name +
                                            ">: only LoRA/LyCORIS extra networks are supported");
      if (p == &r.negative_prompt)
        throw Error(Code::kInvalidArgument, "<" + tag.kind + ":" + tag.name +
                                                "> in the negative prompt: put LoRA tags in the "
                                                "prompt (A1111 ignores them there)");
      text::LoraMultipliers mult = text::ParseLoraMultipliers(tag).ValueOrThrow();
      out.push_back({tag.name, mult.unet, mult.te});
    }
  }
  return out;
}

// A LoRA flag or tag names a file, or a name under loras_dir (name.safetensors, also in
// sub-folders, as A1111 and ComfyUI users organise them).
std::string ResolveLoraPath(const LoraRequest& l, const std::string& loras_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(l.name_or_path, ec)) return l.name_or_path;
  if (loras_dir.empty())
    throw Error(Code::kNotFound, "LoRA '" + l.name_or_path +
                                     "' is not a file, and no LoRA folder was given: pass "
                                     "--loras-dir DIR or the LoRA's path");
  const std::string want = l.name_or_path + ".safetensors";
  fs::path direct = fs::path(loras_dir) / want;
  if (fs::is_regular_file(direct, ec)) return direct.string();
  for (fs::recursive_directory_iterator it(loras_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename() == fs::path(want).filename())
      return it->path().string();
  }
  throw Error(Code::kNotFound, "LoRA '" + l.name_or_path + "' not found: looked for " + want +
                                   " in " + loras_dir + " and its sub-folders");
}

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

Result<std::pair<torch::Tensor, torch::Tensor>> SdPipeline::EncodePrompts(
    const std::string& prompt, const std::string& negative, int clip_skip) {
  std::pair<torch::Tensor, torch::Tensor> out;
  Status st = CatchAll([&] {
    Impl& m = *impl_;
    torch::NoGradGuard no_grad;
    auto cond_chunks = m.Chunks(prompt);
    auto uncond_chunks = m.Chunks(negative);
    text::PadToSameChunkCount(&cond_chunks, &uncond_chunks, *m.tokenizer, m.pad_id);
    out.first = EncodeChunks(*m.text_encoder, cond_chunks, clip_skip);
    out.second = EncodeChunks(*m.text_encoder, uncond_chunks, clip_skip);
  });
  if (!st.ok()) return st;
  return out;
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
    std::vector<LoraMatch> matches;
    std::vector<LoraUse> uses;
    const std::vector<LoraRequest> loras = CollectLoras(r);
    if (!loras.empty()) {
      const StateDict unet_params = NamedParameters(*m.unet);
      const StateDict text_params = NamedParameters(*m.text_encoder);
      matches.reserve(loras.size());
      for (const LoraRequest& l : loras) {
        LoraFile file = LoadLora(ResolveLoraPath(l, r.loras_dir)).ValueOrThrow();
        matches.push_back(MatchLora(file, unet_params, text_params).ValueOrThrow());
        const auto& unmatched = matches.back().unmatched_keys;
        if (!unmatched.empty()) {
          std::string w = "LoRA '" + l.name_or_path + "': " + std::to_string(unmatched.size()) +
                          " key(s) match nothing in this model and were not applied:";
          for (size_t i = 0; i < unmatched.size() && i < 5; ++i) w += " " + unmatched[i];
          if (unmatched.size() > 5) w += " ...";
          m.warnings.push_back(w);
        }
      }
      for (size_t i = 0; i < loras.size(); ++i)
        uses.push_back({&matches[i], loras[i].unet_weight, loras[i].text_encoder_weight});
    }
    LoraPatcher patcher;
    if (!uses.empty()) {
      Status applied = patcher.Apply(uses, m.unet.get(), m.text_encoder.get());
      if (!applied.ok()) throw Error(applied);
    }

    auto [cond, uncond] = EncodePrompts(r.prompt, r.negative_prompt, r.clip_skip).ValueOrThrow();

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

// easel_bench: speed of the engine on real SD model shapes with random weights (no model file
// needed). Prints one line per measurement with the median of N timed runs after warm-up:
//   unet_step      one UNet forward at batch 2 (one image with CFG), the cost of a step
//   generate       a whole text-to-image: text encoder (cond + uncond), `steps` Euler steps
//                  with CFG, VAE decode of the result
//   decode         (--decode) one VAE decode of a W x H image, untiled and tiled, with the
//                  peak device memory of each (CUDA)
//   --model DIR    the real pipeline (SdPipeline) on a model folder or file: load time, time
//                  from load to the first image, whole-image time (prompt encode, Euler steps
//                  with CFG, VAE decode, copy to the host), per-step time (from runs of
//                  `steps` and of 1 step), VAE decode time, peak device memory; --out PREFIX
//                  writes the latents and decoded images as raw float32, --json FILE one record
//                  (bench/compare.py reads both).
// Usage: easel_bench [--family sd15|sd2|sdxl] [--device cuda] [--dtype fp16] [-W 512 -H 512]
//                    [--steps 20] [--runs 5] [--warmup 2] [--batch 1] [--decode]
//                    [--model DIR [--graphs 0|1] [--channels-last] [--out P] [--json F]]
// Random weights make the pictures meaningless but the work identical to a real model's.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "engine/nets/fused_ops.h"
#include "engine/nets/layers.h"
#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "engine/nets/vae_tiled.h"
#include "engine/pipeline/denoiser.h"
#include "engine/pipeline/device.h"
#include "engine/pipeline/sd_pipeline.h"
#include "engine/pipeline/unet_runner.h"
#include "engine/sample/noise.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"
#include "unit/engine/ldm_test_shapes.h"

#ifdef EASEL_CUDA_STATS
#include <c10/cuda/CUDACachingAllocator.h>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/autograd/profiler_kineto.h>
#define EASEL_KINETO 1
#endif
#endif

namespace {
using namespace easel::engine;

void Sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

template <class Fn>
double MedianSeconds(const torch::Device& d, int warmup, int runs, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  Sync(d);
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto s = std::chrono::steady_clock::now();
    fn();
    Sync(d);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Peak CUDA memory allocated by tensors since the last reset, in GiB (0 without CUDA stats).
double PeakGiB(const torch::Device& d, bool reset) {
#ifdef EASEL_CUDA_STATS
  if (!d.is_cuda()) return 0;
  namespace alloc = c10::cuda::CUDACachingAllocator;
  const auto index = d.has_index() ? d.index() : c10::DeviceIndex{0};
  if (reset) {
    alloc::resetPeakStats(index);
    return 0;
  }
  return alloc::getDeviceStats(index).allocated_bytes[0].peak / double(1ull << 30);
#else
  (void)d;
  (void)reset;
  return 0;
#endif
}

// Runs fn under the Kineto profiler (CPU and CUDA activity) and saves a Chrome trace to path;
// bench/trace_summary.py sums its kernels by category. Only in CUDA LibTorch 2.x builds.
template <class Fn>
bool ProfileTo(const std::string& path, Fn&& fn) {
#ifdef EASEL_KINETO
  namespace prof = torch::autograd::profiler;
  namespace impl = torch::profiler::impl;
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
  const std::set<impl::ActivityType> activities = {impl::ActivityType::CPU,
                                                   impl::ActivityType::CUDA};
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  fn();
  torch::cuda::synchronize();
  prof::disableProfiler()->save(path);
  return true;
#else
  (void)path;
  (void)fn;
  std::fprintf(stderr, "easel_bench: --profile needs a CUDA LibTorch 2.x build\n");
  return false;
#endif
}

void WriteRaw(const std::string& path, const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()),
          static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

struct ModelBench {
  std::string model, device, dtype, prompt, negative, out, json, profile;
  int width = 512, height = 512, steps = 20, batch = 1, runs = 5, graphs = 1, cudnn_bench = 0;
  int64_t seed = 42;
  double cfg = 7.0;
  bool channels_last = true;
};

// The real pipeline on a model: see the header comment.
int RunModel(const ModelBench& b) {
  using Clock = std::chrono::steady_clock;
  auto secs = [](Clock::time_point s) {
    return std::chrono::duration<double>(Clock::now() - s).count();
  };
  auto place = ResolvePlacement(b.device, b.dtype);
  if (!place.ok()) {
    std::fprintf(stderr, "easel_bench: %s\n", place.status().ToString().c_str());
    return 2;
  }
  const torch::Device dev = place->device;
  auto t0 = Clock::now();
  auto loaded = SdPipeline::Load(b.model, "", b.device, b.dtype);
  if (!loaded.ok()) {
    std::fprintf(stderr, "easel_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<SdPipeline> pipe = std::move(loaded).ValueOrThrow();
  SpeedOptions speed;
  speed.cuda_graphs = b.graphs != 0;
  speed.channels_last = b.channels_last;
  speed.cudnn_benchmark = b.cudnn_bench != 0;
  pipe->SetSpeedOptions(speed);
  Sync(dev);
  const double load_s = secs(t0);

  GenerateRequest r;
  r.prompt = b.prompt;
  r.negative_prompt = b.negative;
  r.steps = b.steps;
  r.cfg_scale = b.cfg;
  r.sampler = "euler";
  r.scheduler = "simple";  // every 1000/steps-th training sigma (bench/compare.py)
  r.seed = b.seed;
  r.width = b.width;
  r.height = b.height;
  r.batch = b.batch;
  r.vae_tiling = "off";
  torch::Tensor latents, images;
  auto whole = [&](const GenerateRequest& q) {
    latents = pipe->SampleLatents(q).ValueOrThrow();
    images = pipe->DecodeLatents(latents, "off").ValueOrThrow();
  };
  t0 = Clock::now();
  whole(r);
  const double first_s = secs(t0);
  if (!b.out.empty()) {
    WriteRaw(b.out + "_latent.f32", latents);
    WriteRaw(b.out + "_image.f32", images);
  }
  PeakGiB(dev, true);
  const double gen_s = MedianSeconds(dev, 0, b.runs, [&] { whole(r); });
  const double peak = PeakGiB(dev, false);
  GenerateRequest one = r;
  one.steps = 1;
  const double sample_s =
      MedianSeconds(dev, 1, b.runs, [&] { pipe->SampleLatents(r).ValueOrThrow(); });
  const double sample1_s =
      MedianSeconds(dev, 1, b.runs, [&] { pipe->SampleLatents(one).ValueOrThrow(); });
  const double step_s = (sample_s - sample1_s) / std::max(1, b.steps - 1);
  // Text encoding alone (both prompts, as SampleLatents does).
  ConditionParams cp;
  cp.width = b.width;
  cp.height = b.height;
  const double encode_s = MedianSeconds(dev, 1, b.runs, [&] {
    pipe->EncodePrompts(r.prompt, r.negative_prompt, cp).ValueOrThrow();
  });
  torch::Tensor one_latent = latents.slice(0, 0, 1);
  const double decode_s =
      MedianSeconds(dev, 1, b.runs, [&] { pipe->DecodeLatents(one_latent, "off").ValueOrThrow(); });
  std::printf(
      "easel %s %dx%d batch %d %s graphs %d channels_last %d: load %.3f s, first image %.3f s, "
      "image %.4f s, step %.2f ms, sampling %.4f s, encode %.4f s, decode %.4f s, peak %.2f GiB "
      "(cudnn bench "
      "%d, fused kernels %d)\n",
      pipe->info().family.c_str(), b.width, b.height, b.batch, b.dtype.c_str(), b.graphs,
      int(b.channels_last), load_s, first_s, gen_s, step_s * 1e3, sample_s, encode_s, decode_s, peak,
      b.cudnn_bench, int(FusedKernelsEnabled()));
  if (!b.json.empty()) {
    nlohmann::json j = {{"engine", "easel"},
                        {"family", pipe->info().family},
                        {"width", b.width},
                        {"height", b.height},
                        {"batch", b.batch},
                        {"steps", b.steps},
                        {"dtype", b.dtype},
                        {"graphs", b.graphs},
                        {"channels_last", b.channels_last},
                        {"cudnn_benchmark", b.cudnn_bench},
                        {"fused_kernels", FusedKernelsEnabled()},
                        {"load_s", load_s},
                        {"first_image_s", first_s},
                        {"load_to_first_image_s", load_s + first_s},
                        {"image_s", gen_s},
                        {"step_s", step_s},
                        {"sampling_s", sample_s},
                        {"encode_s", encode_s},
                        {"decode_s", decode_s},
                        {"peak_gib", peak},
                        {"torch", TORCH_VERSION}};
    std::ofstream(b.json, std::ios::app) << j.dump() << "\n";
  }
  if (!b.profile.empty()) {
    // Eager (graphs off: each kernel attributed), the same kernels as the graph replays.
    SpeedOptions eager = speed;
    eager.cuda_graphs = false;
    pipe->SetSpeedOptions(eager);
    whole(r);
    Sync(dev);
    ProfileTo(b.profile + "_sample.json", [&] { latents = pipe->SampleLatents(r).ValueOrThrow(); });
    ProfileTo(b.profile + "_encode.json",
              [&] { pipe->EncodePrompts(r.prompt, r.negative_prompt, cp).ValueOrThrow(); });
    ProfileTo(b.profile + "_decode.json",
              [&] { pipe->DecodeLatents(one_latent, "off").ValueOrThrow(); });
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"easel_bench: engine speed on real SD shapes with random weights"};
  std::string family = "sd15", device = "cpu", dtype = "fp32";
  int width = 512, height = 512, steps = 20, runs = 5, warmup = 2, batch = 1;
  bool decode_only = false;
  app.add_option("--family", family, "sd15, sd2 or sdxl")->capture_default_str();
  app.add_option("--batch", batch, "images per generation (the UNet sees 2x with CFG)")
      ->capture_default_str();
  app.add_flag("--decode", decode_only, "only time VAE decodes (untiled, tiled) at W x H");
  app.add_option("--device", device)->capture_default_str();
  app.add_option("--dtype", dtype)->capture_default_str();
  app.add_option("-W,--width", width)->capture_default_str();
  app.add_option("-H,--height", height)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--runs", runs)->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  ModelBench mb;
  app.add_option("--model", mb.model, "a model folder or file: time the real pipeline");
  app.add_option("--graphs", mb.graphs, "--model: CUDA graphs 0|1")->capture_default_str();
  app.add_option("--channels-last", mb.channels_last, "--model: NHWC UNet weights 0|1")
      ->capture_default_str();
  app.add_option("--cudnn-benchmark", mb.cudnn_bench, "--model: cuDNN algorithm search 0|1")
      ->capture_default_str();
  app.add_option("--prompt", mb.prompt)->capture_default_str();
  app.add_option("--negative", mb.negative)->capture_default_str();
  app.add_option("--seed", mb.seed)->capture_default_str();
  app.add_option("--cfg", mb.cfg)->capture_default_str();
  app.add_option("--out", mb.out, "--model: write PREFIX_latent.f32 and PREFIX_image.f32");
  app.add_option("--json", mb.json, "--model: append one JSON record to this file");
  app.add_option("--profile", mb.profile,
                 "--model: after timing, save Kineto traces PREFIX_{sample,encode,decode}.json "
                 "(bench/trace_summary.py)");
  CLI11_PARSE(app, argc, argv);
  if (!mb.model.empty()) {
    mb.device = device;
    mb.dtype = dtype;
    mb.width = width;
    mb.height = height;
    mb.steps = steps;
    mb.batch = batch;
    mb.runs = runs;
    try {
      return RunModel(mb);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "easel_bench: %.400s\n", e.what());
      return 1;
    }
  }

  auto place = ResolvePlacement(device, dtype);
  if (!place.ok()) {
    std::fprintf(stderr, "easel_bench: %s\n", place.status().ToString().c_str());
    return 2;
  }
  const torch::Device dev = place->device;
  const torch::ScalarType dt = place->dtype;
  if (family != "sd15" && family != "sd2" && family != "sdxl") {
    std::fprintf(stderr, "easel_bench: --family must be sd15, sd2 or sdxl, got %s\n",
                 family.c_str());
    return 2;
  }
  const bool sd2 = family == "sd2", sdxl = family == "sdxl";
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);

  Vae vae(VaeConfig::FromWeights(testing::LdmVaeShapes({})));
  layers::InitLikeTorch(*vae);  // the nets allocate weights uninitialised (nets/layers.h)
  vae->eval();
  vae->to(dev, dt);
  const int lh = height / 8, lw = width / 8;
  if (decode_only) {
    std::printf("easel_bench: VAE decode %dx%d %s %s, torch %s, median of %d runs\n", width, height,
                device.c_str(), dtype.c_str(), TORCH_VERSION, runs);
    torch::Tensor z = torch::randn({1, 4, lh, lw}).to(dev, dt);
    for (bool tiled : {false, true}) {
      PeakGiB(dev, true);
      try {
        double s = MedianSeconds(dev, 1, runs, [&] {
          if (tiled) {
            DecodeTiled(*vae, z, VaeTiling{});
          } else {
            vae->Decode(z);
          }
        });
        std::printf("decode %-7s %.3f s, peak %.2f GiB\n", tiled ? "tiled" : "untiled", s,
                    PeakGiB(dev, false));
      } catch (const std::exception& e) {
        std::printf("decode %-7s failed: %.200s\n", tiled ? "tiled" : "untiled", e.what());
      }
      std::fflush(stdout);
    }
    return 0;
  }

  // SD1.5: CLIP-L (768, 12 layers, 12 heads, quick_gelu), UNet 320 x (1,2,4,4), 8 heads.
  // SD2: OpenCLIP-H penultimate (1024, 23 layers, 16 heads, gelu), 64 channels per head.
  // SDXL: CLIP-L ++ OpenCLIP-bigG (1280, 32 layers, 20 heads, gelu) penultimate -> 2048 context,
  // UNet 320 x (1,2,4), transformer depth (0, 2, 10), 64 channels per head, label_emb 2816.
  ClipTextConfig tc;
  tc.hidden = sd2 ? 1024 : 768;
  tc.layers = sd2 ? 23 : 12;
  tc.heads = sd2 ? 16 : 12;
  tc.intermediate = 4 * tc.hidden;
  tc.activation = sd2 ? ClipActivation::kGelu : ClipActivation::kQuickGelu;
  ClipTextModel te(tc);
  ClipTextConfig tc2 = tc;
  tc2.hidden = 1280;
  tc2.layers = 32;
  tc2.heads = 20;
  tc2.intermediate = 5120;
  tc2.activation = ClipActivation::kGelu;
  ClipTextModel te2{nullptr};
  if (sdxl) te2 = ClipTextModel(tc2);
  const int64_t context_dim = sdxl ? 2048 : tc.hidden;
  testing::LdmUnetSpec us;
  us.context = context_dim;
  us.linear = sd2 || sdxl;
  if (sdxl) {
    us.mult = {1, 2, 4};
    us.attention = {false, true, true};
    us.level_depth = {0, 2, 10};
    us.adm = 2816;
  }
  UNet unet(UNetConfig::FromWeights(testing::LdmUnetShapes(us),
                                    (sd2 || sdxl) ? HeadRule::HeadDim(64) : HeadRule::Heads(8)));
  std::vector<torch::nn::Module*> modules = {te.get(), unet.get()};
  if (sdxl) modules.push_back(te2.get());
  for (torch::nn::Module* m : modules) {
    layers::InitLikeTorch(*m);
    m->eval();
    m->to(dev, dt);
  }
  // Keep random-init activations finite in fp16: the scale of the weights does not change
  // the work, and NaNs can take slow paths on some kernels.
  for (auto& p : unet->parameters()) p.mul_(0.5);

  std::printf(
      "easel_bench: %s %dx%d batch %d %s %s, torch %s, median of %d runs after %d warm-up\n",
      family.c_str(), width, height, batch, device.c_str(), dtype.c_str(), TORCH_VERSION, runs,
      warmup);

  const int64_t n2 = 2 * batch;
  torch::Tensor x = torch::randn({n2, 4, lh, lw}).to(dev, dt);
  torch::Tensor t = torch::full({n2}, 500.0).to(dev, dt);
  torch::Tensor ctx = torch::randn({n2, 77, context_dim}).to(dev, dt);
  torch::Tensor y = sdxl ? torch::randn({n2, 2816}).to(dev, dt) : torch::Tensor();
  PeakGiB(dev, true);
  if (mb.channels_last)
    for (auto& p : unet->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  UNetRunner runner(*unet, mb.graphs != 0);
  double unet_s = MedianSeconds(dev, warmup, runs, [&] { runner(x, t, ctx, y); });
  std::printf(
      "unet_step   %.4f s  (batch %lld = %d image(s) with CFG; graphs %d, channels_last %d), "
      "peak %.2f GiB\n",
      unet_s, static_cast<long long>(n2), batch, mb.graphs, int(mb.channels_last),
      PeakGiB(dev, false));

  torch::Tensor ids = torch::randint(0, 49406, {2, 77}, torch::kLong).to(dev);
  DiscreteSchedule schedule;
  auto generate = [&] {
    torch::Tensor emb = te->Forward(ids, sdxl ? 2 : 1);
    Conditioning cond, uncond;
    if (sdxl) {
      emb = torch::cat({emb, te2->Forward(ids, 2)}, -1);
      cond.y = torch::zeros({1, 2816}).to(dev, dt);
      uncond.y = cond.y;
    }
    cond.context = emb.slice(0, 0, 1);
    uncond.context = emb.slice(0, 1, 2);
    CfgDenoiser denoiser(*unet, schedule, Prediction::kEps, cond, uncond, 7.0, dt);
    denoiser.UseRunner(&runner);
    torch::Tensor sigmas = MakeSigmas("normal", schedule, steps);
    torch::Tensor xt = (InitialNoise(1, 4, lh, lw) * sigmas[0]).expand({batch, -1, -1, -1});
    xt = xt.contiguous().to(dev);
    GaussianNoiseSampler noise(2, {batch, 4, lh, lw}, torch::kFloat32, dev);
    torch::Tensor z = Sample("euler", denoiser.AsFn(), xt, sigmas.to(dev), noise);
    for (int64_t i = 0; i < batch; ++i)
      vae->Decode((z.slice(0, i, i + 1) / (sdxl ? 0.13025 : 0.18215)).to(dt)).to(torch::kCPU);
  };
  const int gen_runs = std::max(1, runs / 2);
  PeakGiB(dev, true);
  double gen_s = MedianSeconds(dev, 1, gen_runs, generate);
  std::printf(
      "generate    %.3f s  (%d steps euler + CFG, text encoder, VAE decode; %.4f s/step "
      "overall), peak %.2f GiB\n",
      gen_s, steps, gen_s / steps, PeakGiB(dev, false));
  if (dev.is_cuda()) std::fflush(stdout);
  return 0;
}

// easel_bench: speed of the engine on real SD model shapes with random weights (no model file
// needed). Prints one line per measurement with the median of N timed runs after warm-up:
//   unet_step      one UNet forward at batch 2 (one image with CFG), the cost of a step
//   generate       a whole text-to-image: text encoder (cond + uncond), `steps` Euler steps
//                  with CFG, VAE decode of the result
//   decode         (--decode) one VAE decode of a W x H image, untiled and tiled, with the
//                  peak device memory of each (CUDA)
// Usage: easel_bench [--family sd15|sd2|sdxl] [--device cuda] [--dtype fp16] [-W 512 -H 512]
//                    [--steps 20] [--runs 5] [--warmup 2] [--batch 1] [--decode]
// Random weights make the pictures meaningless but the work identical to a real model's.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "engine/nets/vae_tiled.h"
#include "engine/pipeline/denoiser.h"
#include "engine/pipeline/device.h"
#include "engine/sample/noise.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"
#include "unit/engine/ldm_test_shapes.h"

#ifdef EASEL_CUDA_STATS
#include <c10/cuda/CUDACachingAllocator.h>
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
  CLI11_PARSE(app, argc, argv);

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
  vae->eval();
  vae->to(dev, dt);
  const int lh = height / 8, lw = width / 8;
  if (decode_only) {
    std::printf("easel_bench: VAE decode %dx%d %s %s, torch %s, median of %d runs\n", width,
                height, device.c_str(), dtype.c_str(), TORCH_VERSION, runs);
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
  UNet unet(UNetConfig::FromWeights(testing::LdmUnetShapes(us), (sd2 || sdxl)
                                                                    ? HeadRule::HeadDim(64)
                                                                    : HeadRule::Heads(8)));
  std::vector<torch::nn::Module*> modules = {te.get(), unet.get()};
  if (sdxl) modules.push_back(te2.get());
  for (torch::nn::Module* m : modules) {
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
  double unet_s = MedianSeconds(dev, warmup, runs, [&] { unet->forward(x, t, ctx, y); });
  std::printf("unet_step   %.4f s  (batch %lld = %d image(s) with CFG), peak %.2f GiB\n", unet_s,
              static_cast<long long>(n2), batch, PeakGiB(dev, false));

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

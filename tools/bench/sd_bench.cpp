// easel_bench: speed of the engine on real SD model shapes with random weights (no model file
// needed). Prints one line per measurement with the median of N timed runs after warm-up:
//   unet_step      one UNet forward at batch 2 (one image with CFG), the cost of a step
//   generate       a whole text-to-image: text encoder (cond + uncond), `steps` Euler steps
//                  with CFG, VAE decode of the result
// Usage: easel_bench [--family sd15|sd2] [--device cuda] [--dtype fp16] [-W 512 -H 512]
//                    [--steps 20] [--runs 5] [--warmup 2]
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
  int width = 512, height = 512, steps = 20, runs = 5, warmup = 2;
  app.add_option("--family", family, "sd15 or sd2")->capture_default_str();
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
  const bool sd2 = family == "sd2";
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);

  // SD1.5: CLIP-L (768, 12 layers, 12 heads, quick_gelu), UNet 320 x (1,2,4,4), 8 heads.
  // SD2: OpenCLIP-H penultimate (1024, 23 layers, 16 heads, gelu), 64 channels per head.
  ClipTextConfig tc;
  tc.hidden = sd2 ? 1024 : 768;
  tc.layers = sd2 ? 23 : 12;
  tc.heads = sd2 ? 16 : 12;
  tc.intermediate = 4 * tc.hidden;
  tc.activation = sd2 ? ClipActivation::kGelu : ClipActivation::kQuickGelu;
  ClipTextModel te(tc);
  testing::LdmUnetSpec us;
  us.context = tc.hidden;
  us.linear = sd2;
  UNet unet(UNetConfig::FromWeights(testing::LdmUnetShapes(us),
                                    sd2 ? HeadRule::HeadDim(64) : HeadRule::Heads(8)));
  Vae vae(VaeConfig::FromWeights(testing::LdmVaeShapes({})));
  for (torch::nn::Module* m :
       {static_cast<torch::nn::Module*>(te.get()), static_cast<torch::nn::Module*>(unet.get()),
        static_cast<torch::nn::Module*>(vae.get())}) {
    m->eval();
    m->to(dev, dt);
  }
  // Keep random-init activations finite in fp16: the scale of the weights does not change
  // the work, and NaNs can take slow paths on some kernels.
  for (auto& p : unet->parameters()) p.mul_(0.5);

  const int lh = height / 8, lw = width / 8;
  std::printf("easel_bench: %s %dx%d %s %s, torch %s, median of %d runs after %d warm-up\n",
              family.c_str(), width, height, device.c_str(), dtype.c_str(), TORCH_VERSION, runs,
              warmup);

  torch::Tensor x = torch::randn({2, 4, lh, lw}).to(dev, dt);
  torch::Tensor t = torch::full({2}, 500.0).to(dev, dt);
  torch::Tensor ctx = torch::randn({2, 77, tc.hidden}).to(dev, dt);
  PeakGiB(dev, true);
  double unet_s = MedianSeconds(dev, warmup, runs, [&] { unet->forward(x, t, ctx); });
  std::printf("unet_step   %.4f s  (batch 2 = 1 image with CFG), peak %.2f GiB\n", unet_s,
              PeakGiB(dev, false));

  torch::Tensor ids = torch::randint(0, 49406, {2, 77}, torch::kLong).to(dev);
  DiscreteSchedule schedule;
  auto generate = [&] {
    torch::Tensor emb = te->Forward(ids, 1);
    torch::Tensor cond = emb.slice(0, 0, 1), uncond = emb.slice(0, 1, 2);
    CfgDenoiser denoiser(*unet, schedule, Prediction::kEps, cond, uncond, 7.0, dt);
    torch::Tensor sigmas = MakeSigmas("normal", schedule, steps);
    torch::Tensor xt = (InitialNoise(1, 4, lh, lw) * sigmas[0]).to(dev);
    GaussianNoiseSampler noise(2, {1, 4, lh, lw}, torch::kFloat32, dev);
    torch::Tensor z = Sample("euler", denoiser.AsFn(), xt, sigmas.to(dev), noise);
    vae->Decode((z / 0.18215).to(dt)).to(torch::kCPU);
  };
  const int gen_runs = std::max(1, runs / 2);
  double gen_s = MedianSeconds(dev, 1, gen_runs, generate);
  std::printf(
      "generate    %.3f s  (%d steps euler + CFG, text encoder, VAE decode; %.4f s/step "
      "overall)\n",
      gen_s, steps, gen_s / steps);
  if (dev.is_cuda()) std::fflush(stdout);
  return 0;
}

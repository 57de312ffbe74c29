// Load-time breakdown of a real model folder or file (a measurement, not a check): skipped
// unless EASEL_LOAD_TIMING_MODEL names a model. Prints the time of each load phase as
// SdPipeline::Load runs them, then the whole SdPipeline::Load, so a change to loading can be
// measured phase by phase:
//   EASEL_LOAD_TIMING_MODEL=/tmp/sd15 [EASEL_LOAD_TIMING_DEVICE=cuda EASEL_LOAD_TIMING_DTYPE=fp16]
//   easel_tests --gtest_filter='LoadTiming.*'
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "engine/model_files.h"
#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "engine/pipeline/device.h"
#include "engine/pipeline/sd_pipeline.h"
#include "engine/pipeline/text_conditioner.h"

namespace easel::engine {
namespace {

using Clock = std::chrono::steady_clock;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Seconds since `start`, after the device finished its work; restarts `start`.
double Lap(Clock::time_point* start, const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
  const Clock::time_point now = Clock::now();
  const double s = std::chrono::duration<double>(now - *start).count();
  *start = now;
  return s;
}

TEST(LoadTiming, Phases) {
  const std::string model = Env("EASEL_LOAD_TIMING_MODEL", "");
  if (model.empty()) GTEST_SKIP() << "set EASEL_LOAD_TIMING_MODEL to a model folder or file";
  const std::string device = Env("EASEL_LOAD_TIMING_DEVICE", "cpu");
  const std::string dtype = Env("EASEL_LOAD_TIMING_DTYPE", "fp32");
  const Placement place = ResolvePlacement(device, dtype).ValueOrThrow();
  torch::NoGradGuard no_grad;

  Clock::time_point t = Clock::now();
  const Clock::time_point t_all = t;
  ModelFiles files = LoadModelFiles(model, "").ValueOrThrow();
  const double files_s = Lap(&t, place.device);
  auto text = TextConditioner::Load(files, place.device, place.dtype).ValueOrThrow();
  const double text_s = Lap(&t, place.device);
  UNet unet(UNetConfig::FromWeights(files.unet, files.unet_heads));
  const double unet_build_s = Lap(&t, place.device);
  const WeightPlacement to{place.device, place.dtype};  // as SdPipeline::Load does
  Status st = LoadIntoModule(*unet, files.unet, "UNet", {}, to);
  ASSERT_TRUE(st.ok()) << st.ToString();
  files.unet.clear();
  const double unet_load_s = Lap(&t, place.device);
  unet->to(place.device, place.dtype);
  const double unet_to_s = Lap(&t, place.device);
  Vae vae(VaeConfig::FromWeights(files.vae));
  const double vae_build_s = Lap(&t, place.device);
  st = LoadVaeWeights(*vae, files.vae, "VAE", to);
  ASSERT_TRUE(st.ok()) << st.ToString();
  files.vae.clear();
  vae->to(place.device, place.dtype);
  const double vae_load_s = Lap(&t, place.device);
  const double phases_s = std::chrono::duration<double>(Clock::now() - t_all).count();
  std::printf(
      "[ load timing ] %s on %s %s: files %.3f s, text encoder(s) %.3f s, UNet build %.3f s, "
      "UNet load %.3f s, UNet to() (no-op) %.3f s, VAE build %.3f s, VAE load+to() %.3f s; sum "
      "%.3f s\n",
      model.c_str(), device.c_str(), dtype.c_str(), files_s, text_s, unet_build_s, unet_load_s,
      unet_to_s, vae_build_s, vae_load_s, phases_s);
  text.reset();
  unet = nullptr;
  vae = nullptr;

  t = Clock::now();
  auto pipe = SdPipeline::Load(model, "", device, dtype);
  ASSERT_TRUE(pipe.ok()) << pipe.status().ToString();
  std::printf("[ load timing ] SdPipeline::Load %.3f s\n", Lap(&t, place.device));
}

}  // namespace
}  // namespace easel::engine

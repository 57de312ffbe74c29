// Golden tests of src/engine/sample/ against tests/fixtures/golden/samplers.safetensors, made by
// tools/make_sampler_goldens.py from pip k-diffusion's sampler functions and ComfyUI's
// schedule / scheduler / noise definitions (see that tool for what each value is).
//
// Tolerances, and why:
//   noise: bit-identical. Same generator (mt19937) and the same randn kernel; any difference
//     is a seeding bug, not rounding.
//   schedule, timestep, sigma(t), scheduler sigmas: 1e-6 relative. The same float64/float32
//     arithmetic in the same order; the only allowed slack is libm / SLEEF differences of an
//     ulp or two (6e-8 each) between libtorch 1.13 and PyTorch 2.x.
//   eps / v formulas: 1e-6 relative, for the same reason.
//   beta quantiles: 1e-7 absolute: the golden is scipy's float64 ppf rounded to float32.
//   sampler outputs: 1e-5 absolute over |x| <= 1 after 8 steps from |x| ~ 50: float32
//     op-order differences (ComfyUI's x = x0 on the last ancestral/SDE step instead of
//     k-diffusion's Euler step into 0, vectorised vs scalar transcendental functions) of an
//     ulp or two per step, scaled down with sigma.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/sample/beta_quantile.h"
#include "engine/sample/model_sampling.h"
#include "engine/sample/noise.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"
#include "io/safetensors.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

class SampleGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto file =
        io::SafetensorsFile::Open(std::string(EASEL_FIXTURES_DIR) + "/golden/samplers.safetensors");
    ASSERT_TRUE(file.ok()) << file.status().ToString()
                           << " (regenerate: /work/pyenv/bin/python tools/make_sampler_goldens.py)";
    file_ = file.value();
  }
  static void TearDownTestSuite() { file_.reset(); }

  // The golden tensor `name` (F32) copied into a CPU tensor.
  static torch::Tensor Golden(const std::string& name) {
    const io::TensorInfo* info = file_->Find(name);
    if (info == nullptr) {
      ADD_FAILURE() << "golden tensor '" << name << "' is missing";
      return torch::Tensor();
    }
    EXPECT_EQ(info->dtype, io::DType::kF32) << name;
    return torch::from_blob(const_cast<uint8_t*>(info->data), info->shape, torch::kFloat32).clone();
  }

  static std::shared_ptr<const io::SafetensorsFile> file_;
};

std::shared_ptr<const io::SafetensorsFile> SampleGolden::file_;

double MaxAbs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

double MaxRel(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
  return ((a64 - b64).abs() / b64.abs().clamp_min(1e-30)).max().item<double>();
}

// "1.2e-07": for RecordProperty (visible with --gtest_output=xml).
std::string Sci(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2g", value);
  return text;
}

torch::Tensor ClosedFormDenoiser(const torch::Tensor& x, const torch::Tensor& sigma) {
  // Same expression, same op order as denoiser() in tools/make_sampler_goldens.py.
  torch::Tensor s = sigma.view({-1, 1, 1, 1});
  return torch::tanh(0.7 * x / (s.pow(2) + 1).sqrt()) * 0.9 + 0.05 * torch::sin(3 * s);
}

TEST_F(SampleGolden, InitialNoiseIsBitIdentical) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{42}, (uint64_t{1} << 32) + 5}) {
    for (int size : {8, 64}) {
      const std::string name = "noise_" + std::to_string(seed) + "_" + std::to_string(size);
      torch::Tensor ours = InitialNoise(seed, 4, size, size);
      EXPECT_TRUE(torch::equal(ours, Golden(name)))
          << name << " max |diff| " << MaxAbs(ours, Golden(name));
    }
  }
}

TEST_F(SampleGolden, DiscreteScheduleMatchesComfy) {
  DiscreteSchedule sd;
  EXPECT_LE(MaxRel(sd.sigmas(), Golden("schedule_sigmas")), 1e-6);
  EXPECT_LE(MaxRel(sd.log_sigmas(), Golden("schedule_log_sigmas")), 1e-6);
  ScheduleConfig linear{0.0001, 0.02, BetaSchedule::kLinear, 1000};
  EXPECT_LE(MaxRel(DiscreteSchedule(linear).sigmas(), Golden("schedule_linear_sigmas")), 1e-6);
}

TEST_F(SampleGolden, TimestepAndSigmaMatchComfy) {
  DiscreteSchedule sd;
  torch::Tensor probe = Golden("timestep_probe_sigma");
  torch::Tensor expected = Golden("timestep_probe_t").to(torch::kLong);
  torch::Tensor ours = sd.Timestep(probe);
  EXPECT_EQ(ours.sizes(), probe.sizes());
  EXPECT_TRUE(torch::equal(ours, expected))
      << (ours != expected).sum().item<int64_t>() << " timesteps differ";
  EXPECT_EQ(sd.Timestep(probe[5].item<float>()), expected[5].item<int64_t>());

  torch::Tensor t = Golden("sigma_probe_t"), sigma = Golden("sigma_probe_sigma");
  for (int64_t i = 0; i < t.size(0); ++i) {
    const float want = sigma[i].item<float>();
    EXPECT_NEAR(sd.Sigma(t[i].item<float>()), want, 1e-6 * want) << "t = " << t[i].item<float>();
  }
}

TEST_F(SampleGolden, SchedulerSigmasMatchComfy) {
  DiscreteSchedule sd;
  for (const std::string& scheduler : SchedulerNames()) {
    for (int steps : {1, 7, 10, 25}) {
      const std::string name = "sigmas_" + scheduler + "_" + std::to_string(steps);
      torch::Tensor want = Golden(name);
      torch::Tensor ours = MakeSigmas(scheduler, sd, steps);
      ASSERT_EQ(ours.sizes(), want.sizes()) << name;
      EXPECT_EQ(ours.dtype(), torch::kFloat32);
      EXPECT_EQ(ours[-1].item<float>(), 0.0f) << name;
      const double rel = MaxRel(ours.slice(0, 0, -1), want.slice(0, 0, -1));
      EXPECT_LE(rel, 1e-6) << name;
      RecordProperty(name, Sci(rel));
    }
  }
}

TEST_F(SampleGolden, BetaQuantileMatchesScipy) {
  torch::Tensor want = Golden("beta_ppf_x");
  for (int64_t k = 0; k < want.size(0); ++k) {
    const double q = static_cast<double>(k) / static_cast<double>(want.size(0) - 1);
    EXPECT_NEAR(BetaQuantile(q, 0.6, 0.6), want[k].item<float>(), 1e-7) << "q = " << q;
  }
}

TEST_F(SampleGolden, PredictionFormulasMatchComfy) {
  torch::Tensor x = Golden("formula_x"), out = Golden("formula_model_output");
  torch::Tensor sigma = Golden("formula_sigma");
  EXPECT_LE(MaxRel(CalculateInput(sigma, x), Golden("formula_input")), 1e-6);
  EXPECT_LE(
      MaxRel(CalculateDenoised(Prediction::kEps, sigma, out, x), Golden("formula_denoised_eps")),
      1e-6);
  EXPECT_LE(MaxRel(CalculateDenoised(Prediction::kV, sigma, out, x), Golden("formula_denoised_v")),
            1e-6);
  EXPECT_LE(MaxRel(NoiseScaling(sigma, out, x, false), Golden("formula_noise_scaling")), 1e-6);
  EXPECT_LE(MaxRel(NoiseScaling(sigma, out, x, true), Golden("formula_noise_scaling_max")), 1e-6);
}

// One sampler over one scheduler, 8 steps from the seed-42 noise, as the tool runs it.
double SamplerError(const std::string& sampler, const std::string& scheduler,
                    const torch::Tensor& want) {
  DiscreteSchedule sd;
  torch::Tensor sigmas = MakeSigmas(scheduler, sd, 8);
  torch::Tensor x = InitialNoise(42, 4, 8, 8) * sigmas[0];
  GaussianNoiseSampler noise(/*seed=*/43, x.sizes().vec());
  torch::Tensor ours = Sample(sampler, ClosedFormDenoiser, x, sigmas, noise);
  EXPECT_EQ(ours.sizes(), want.sizes());
  return MaxAbs(ours, want);
}

TEST_F(SampleGolden, EverySamplerWithKarrasMatchesKDiffusion) {
  for (const std::string& sampler : SamplerNames()) {
    const double err = SamplerError(sampler, "karras", Golden("sample_" + sampler + "_karras"));
    EXPECT_LE(err, 1e-5) << sampler;
    RecordProperty(sampler + "_karras", Sci(err));
  }
}

TEST_F(SampleGolden, EulerWithEverySchedulerMatchesKDiffusion) {
  for (const std::string& scheduler : SchedulerNames()) {
    const double err = SamplerError("euler", scheduler, Golden("sample_euler_" + scheduler));
    EXPECT_LE(err, 1e-5) << scheduler;
    RecordProperty("euler_" + scheduler, Sci(err));
  }
}

}  // namespace
}  // namespace easel::engine

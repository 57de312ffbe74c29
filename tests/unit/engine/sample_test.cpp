// Unit tests of src/engine/sample/: names, schedules, noise, and sampler behaviour checked in
// closed form (no reference files; the golden comparisons are in tests/golden/).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/sample/beta_quantile.h"
#include "engine/sample/model_sampling.h"
#include "engine/sample/noise.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"

namespace easel::engine {
namespace {

// Returns zeros and counts calls.
class CountingNoise : public NoiseSampler {
 public:
  explicit CountingNoise(std::vector<int64_t> shape) : shape_(std::move(shape)) {}
  torch::Tensor operator()(float, float) override {
    ++calls;
    return torch::zeros(shape_);
  }
  int calls = 0;

 private:
  std::vector<int64_t> shape_;
};

Code CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.status().code();
  }
  return Code::kOk;
}

// ---------------------------------------------------------------- names

TEST(SampleNames, ComfyAndA1111SamplerNamesResolve) {
  struct Case {
    const char* name;
    const char* sampler;
    const char* scheduler;
  };
  const Case cases[] = {
      {"euler", "euler", ""},
      {"Euler", "euler", ""},
      {"Euler a", "euler_ancestral", ""},
      {"  EULER   A ", "euler_ancestral", ""},
      {"euler_ancestral", "euler_ancestral", ""},
      {"Heun", "heun", ""},
      {"DPM++ 2M", "dpmpp_2m", ""},
      {"DPM++ 2M Karras", "dpmpp_2m", "karras"},
      {"DPM++ 2M SDE", "dpmpp_2m_sde", ""},
      {"DPM++ 2M SDE Karras", "dpmpp_2m_sde", "karras"},
      {"DPM++ 2M SDE Exponential", "dpmpp_2m_sde", "exponential"},
      {"DPM++ SDE Karras", "dpmpp_sde", "karras"},
      {"dpmpp_sde", "dpmpp_sde", ""},
      {"DDIM", "ddim", ""},
      {"LCM", "lcm", ""},
      {"Euler SGM Uniform", "euler", "sgm_uniform"},
  };
  for (const Case& c : cases) {
    std::string sampler, scheduler = "stale";
    Status status = ResolveSamplerName(c.name, &sampler, &scheduler);
    ASSERT_TRUE(status.ok()) << c.name << ": " << status.ToString();
    EXPECT_EQ(sampler, c.sampler) << c.name;
    EXPECT_EQ(scheduler, c.scheduler) << c.name;
  }
  std::string sampler;
  EXPECT_TRUE(ResolveSamplerName("DPM++ 2M Karras", &sampler, nullptr).ok());
  EXPECT_EQ(sampler, "dpmpp_2m");
}

TEST(SampleNames, EveryCanonicalSamplerResolvesToItself) {
  for (const std::string& name : SamplerNames()) {
    std::string sampler, scheduler;
    ASSERT_TRUE(ResolveSamplerName(name, &sampler, &scheduler).ok()) << name;
    EXPECT_EQ(sampler, name);
    EXPECT_EQ(scheduler, "");
  }
}

TEST(SampleNames, UnknownSamplerListsTheValidNames) {
  std::string sampler, scheduler;
  for (const char* name : {"", "euler b", "DPM++ 3M", "dpmpp_2m karras_", "Karras"}) {
    Status status = ResolveSamplerName(name, &sampler, &scheduler);
    EXPECT_EQ(status.code(), Code::kInvalidArgument) << name;
    EXPECT_NE(status.message().find("dpmpp_2m_sde"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("Euler a"), std::string::npos) << status.message();
  }
}

TEST(SampleNames, SchedulerNamesResolve) {
  const std::pair<const char*, const char*> cases[] = {
      {"Automatic", "normal"},
      {"Normal", "normal"},
      {"normal", "normal"},
      {"Karras", "karras"},
      {"Exponential", "exponential"},
      {"SGM Uniform", "sgm_uniform"},
      {"sgm_uniform", "sgm_uniform"},
      {"Simple", "simple"},
      {"DDIM", "ddim_uniform"},
      {"ddim_uniform", "ddim_uniform"},
      {"Beta", "beta"},
  };
  for (const auto& [name, want] : cases) {
    Result<std::string> got = ResolveSchedulerName(name);
    ASSERT_TRUE(got.ok()) << name;
    EXPECT_EQ(got.value(), want);
  }
  EXPECT_EQ(SchedulerNames().size(), 7u);
}

TEST(SampleNames, UnknownSchedulerThrowsWithTheValidNames) {
  DiscreteSchedule sd;
  try {
    MakeSigmas("polyexponential", sd, 10);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
    for (const std::string& name : SchedulerNames())
      EXPECT_NE(e.status().message().find(name), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- schedule

TEST(DiscreteSchedule, SdDefaultsAndInverses) {
  DiscreteSchedule sd;
  EXPECT_EQ(sd.num_timesteps(), 1000);
  EXPECT_NEAR(sd.sigma_min(), 0.0291675, 1e-6);
  EXPECT_NEAR(sd.sigma_max(), 14.614642, 1e-5);
  EXPECT_EQ(sd.Timestep(sd.sigma_max()), 999);
  EXPECT_EQ(sd.Timestep(sd.sigma_min()), 0);
  EXPECT_EQ(sd.Timestep(1e6f), 999);  // beyond the table: the nearest end
  // exp(float32(log sigma)) is sigma up to an ulp or two.
  EXPECT_NEAR(sd.Sigma(999), sd.sigma_max(), 1e-6 * sd.sigma_max());
  EXPECT_NEAR(sd.Sigma(5000), sd.sigma_max(), 1e-6 * sd.sigma_max());  // clamped
  EXPECT_NEAR(sd.Sigma(-3), sd.sigma_min(), 1e-6 * sd.sigma_min());
  for (int t : {0, 1, 17, 500, 998}) EXPECT_EQ(sd.Timestep(sd.Sigma(static_cast<float>(t))), t);
  const float mid = sd.Sigma(500.5f);
  EXPECT_GT(mid, sd.Sigma(500));
  EXPECT_LT(mid, sd.Sigma(501));
  torch::Tensor batch = torch::tensor({sd.sigma_max(), sd.sigma_min()});
  EXPECT_TRUE(torch::equal(sd.Timestep(batch), torch::tensor({999, 0}, torch::kLong)));
}

TEST(DiscreteSchedule, DiffusersConfig) {
  auto config = ScheduleConfigFromDiffusers(nlohmann::json::parse(
      R"({"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
          "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
          "prediction_type": "epsilon", "trained_betas": null})"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(torch::equal(DiscreteSchedule(config.value()).sigmas(), DiscreteSchedule().sigmas()));

  auto linear = ScheduleConfigFromDiffusers(
      nlohmann::json::parse(R"({"beta_schedule": "linear", "beta_start": 0.0001})"));
  ASSERT_TRUE(linear.ok());
  EXPECT_EQ(linear.value().beta_schedule, BetaSchedule::kLinear);
  EXPECT_EQ(linear.value().beta_end, 0.012);  // absent: the SD default

  for (const char* bad : {R"({"beta_schedule": "squaredcos_cap_v2"})", R"({"beta_start": "x"})",
                          R"({"beta_end": 1.5})", R"({"num_train_timesteps": 10.5})", "[]"}) {
    auto result = ScheduleConfigFromDiffusers(nlohmann::json::parse(bad));
    EXPECT_EQ(result.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(CodeOf([] {
              DiscreteSchedule(ScheduleConfig{0, 0.012, BetaSchedule::kLinear, 1000});
            }),
            Code::kInvalidArgument);
}

TEST(DiscreteSchedule, Predictions) {
  EXPECT_EQ(ParsePrediction("epsilon").value(), Prediction::kEps);
  EXPECT_EQ(ParsePrediction("EPS").value(), Prediction::kEps);
  EXPECT_EQ(ParsePrediction("v_prediction").value(), Prediction::kV);
  EXPECT_EQ(ParsePrediction("v").value(), Prediction::kV);
  EXPECT_EQ(ParsePrediction("sample").status().code(), Code::kInvalidArgument);
  EXPECT_STREQ(PredictionName(Prediction::kV), "v");

  // v-prediction round trip: with x = x0 + sigma * eps and v = (eps - sigma * x0) / sqrt(s^2+1)
  // (in the k-diffusion scaling), the denoised result is x0.
  torch::Tensor x0 = torch::randn({2, 4, 3, 3}, torch::kFloat64);
  torch::Tensor eps = torch::randn({2, 4, 3, 3}, torch::kFloat64);
  torch::Tensor sigma = torch::tensor({0.5, 7.0}, torch::kFloat64);
  torch::Tensor s = sigma.view({-1, 1, 1, 1});
  torch::Tensor x = x0 + s * eps;
  torch::Tensor v = (eps - s * x0) / (s * s + 1).sqrt();
  EXPECT_TRUE(torch::allclose(CalculateDenoised(Prediction::kV, sigma, v, x), x0, 1e-9, 1e-9));
  EXPECT_TRUE(torch::allclose(CalculateDenoised(Prediction::kEps, sigma, eps, x), x0, 1e-9, 1e-9));
  EXPECT_TRUE(torch::allclose(CalculateInput(sigma, x) * (s * s + 1).sqrt(), x));
  // 0-dim sigma broadcasts too.
  EXPECT_TRUE(torch::allclose(NoiseScaling(torch::tensor(2.0, torch::kFloat64), eps, x0, false),
                              x0 + 2 * eps));
}

TEST(DiscreteSchedule, MaxDenoise) {
  DiscreteSchedule sd;
  EXPECT_TRUE(IsMaxDenoise(sd, sd.sigma_max()));
  EXPECT_TRUE(IsMaxDenoise(sd, sd.sigma_max() * (1 - 5e-6f)));  // karras' first sigma
  EXPECT_TRUE(IsMaxDenoise(sd, 20.0f));
  EXPECT_FALSE(IsMaxDenoise(sd, 10.0f));
}

// ---------------------------------------------------------------- schedules

TEST(Schedules, EveryScheduleIsDescendingAndEndsInZero) {
  DiscreteSchedule sd;
  for (const std::string& scheduler : SchedulerNames()) {
    for (int steps : {1, 2, 3, 20, 50, 150, 1000}) {
      torch::Tensor sigmas = MakeSigmas(scheduler, sd, steps);
      SCOPED_TRACE(scheduler + " " + std::to_string(steps));
      ASSERT_EQ(sigmas.dim(), 1);
      ASSERT_GE(sigmas.size(0), 2);
      EXPECT_EQ(sigmas.dtype(), torch::kFloat32);
      EXPECT_EQ(sigmas[-1].item<float>(), 0.0f);
      EXPECT_GT(sigmas[0].item<float>(), 0.0f);
      EXPECT_LE(sigmas[0].item<float>(), sd.sigma_max() * (1 + 1e-6f));
      EXPECT_TRUE((sigmas.slice(0, 1) < sigmas.slice(0, 0, -1)).all().item<bool>())
          << sigmas.slice(0, 0, 8);
      if (scheduler != "ddim_uniform" && scheduler != "beta") {
        EXPECT_EQ(sigmas.size(0), steps + 1);
      }
    }
  }
}

TEST(Schedules, KnownValues) {
  DiscreteSchedule sd;
  // Karras with one step is just sigma_max; exponential ends at sigma_min.
  torch::Tensor karras = MakeSigmas("Karras", sd, 1);
  EXPECT_NEAR(karras[0].item<float>(), sd.sigma_max(), 1e-5);
  torch::Tensor expo = MakeSigmas("exponential", sd, 5);
  EXPECT_NEAR(expo[4].item<float>(), sd.sigma_min(), 1e-7);
  // simple takes training sigmas from the top: 1000 / 4 = every 250th.
  torch::Tensor simple = MakeSigmas("simple", sd, 4);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(simple[i].item<float>(), sd.sigmas()[999 - 250 * i].item<float>());
  // ddim_uniform: sigmas[1 + 100 k] reversed for 10 steps; 7 steps give 8 + 1 values as ComfyUI.
  torch::Tensor ddim = MakeSigmas("ddim_uniform", sd, 10);
  EXPECT_EQ(ddim[0].item<float>(), sd.sigmas()[901].item<float>());
  EXPECT_EQ(ddim[9].item<float>(), sd.sigmas()[1].item<float>());
  EXPECT_EQ(MakeSigmas("ddim_uniform", sd, 7).size(0), 9);
}

TEST(Schedules, BadStepCounts) {
  DiscreteSchedule sd;
  EXPECT_EQ(CodeOf([&] { MakeSigmas("normal", sd, 0); }), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { MakeSigmas("karras", sd, -5); }), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { MakeSigmas("karras", sd, 10001); }), Code::kInvalidArgument);
}

TEST(Schedules, BetaQuantile) {
  EXPECT_EQ(BetaQuantile(0, 0.6, 0.6), 0.0);
  EXPECT_EQ(BetaQuantile(1, 0.6, 0.6), 1.0);
  EXPECT_NEAR(BetaQuantile(0.5, 0.6, 0.6), 0.5, 1e-15);  // symmetric
  for (double x : {0.01, 0.3, 0.77, 0.999}) {
    EXPECT_NEAR(RegularizedIncompleteBeta(1, 1, x), x, 1e-14);  // uniform
    // Beta(2, 3): I_x = sum_{j=2..4} C(4, j) x^j (1 - x)^(4 - j) = 6x^2 - 8x^3 + 3x^4.
    EXPECT_NEAR(RegularizedIncompleteBeta(2, 3, x), 6 * x * x - 8 * x * x * x + 3 * x * x * x * x,
                1e-13);
    EXPECT_NEAR(BetaQuantile(RegularizedIncompleteBeta(0.6, 0.6, x), 0.6, 0.6), x, 1e-12);
  }
}

// ---------------------------------------------------------------- noise

TEST(Noise, SeedsAndBatches) {
  torch::Tensor a = InitialNoise(123, 4, 8, 8);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_EQ(a.dtype(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(a, InitialNoise(123, 4, 8, 8)));
  EXPECT_FALSE(torch::equal(a, InitialNoise(124, 4, 8, 8)));
  // torch's CPU generator keeps the low 32 bits of the seed, as PyTorch does.
  EXPECT_TRUE(
      torch::equal(InitialNoise(5, 4, 8, 8), InitialNoise((uint64_t{1} << 32) + 5, 4, 8, 8)));

  torch::Tensor batch = BatchNoise(123, 3, 4, 8, 8);
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{3, 4, 8, 8}));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::equal(batch[i].unsqueeze(0), InitialNoise(123 + i, 4, 8, 8)));
  EXPECT_EQ(CodeOf([] { InitialNoise(1, 0, 8, 8); }), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { BatchNoise(1, 0, 4, 8, 8); }), Code::kInvalidArgument);
}

TEST(Noise, GaussianNoiseSamplerDrawsASeededSequence) {
  GaussianNoiseSampler first(7, {2, 4, 8, 8}, torch::kFloat64);
  GaussianNoiseSampler second(7, {2, 4, 8, 8}, torch::kFloat64);
  torch::Tensor a = first(1.0f, 0.5f), b = first(0.5f, 0.1f);
  EXPECT_EQ(a.dtype(), torch::kFloat64);
  EXPECT_FALSE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(a, second(3.0f, 2.0f)));  // sigmas do not change the draws
  EXPECT_TRUE(torch::equal(b, second(3.0f, 2.0f)));
  // The first draw of a [1, C, H, W] sampler is the initial noise of the same seed.
  GaussianNoiseSampler third(9, {1, 4, 8, 8});
  EXPECT_TRUE(torch::equal(third(1, 0), InitialNoise(9, 4, 8, 8)));
}

// ---------------------------------------------------------------- samplers

torch::Tensor ZeroDenoiser(const torch::Tensor& x, const torch::Tensor&) {
  return torch::zeros_like(x);
}

TEST(Samplers, ZeroDenoiserEndsAtZero) {
  DiscreteSchedule sd;
  for (const std::string& sampler : SamplerNames()) {
    for (int steps : {1, 5}) {
      torch::Tensor sigmas = MakeSigmas("karras", sd, steps);
      torch::Tensor x = InitialNoise(1, 4, 8, 8) * sigmas[0];
      GaussianNoiseSampler noise(2, x.sizes().vec());
      torch::Tensor out = Sample(sampler, ZeroDenoiser, x, sigmas, noise);
      // Euler-type final steps compute x - (x / sigma) * sigma: zero up to rounding of |x|.
      EXPECT_LE(out.abs().max().item<float>(), 1e-5f) << sampler << " " << steps;
    }
  }
}

TEST(Samplers, ConstantDenoiserFollowsTheExactOdeSolution) {
  // With x0(x, sigma) = c the probability-flow ODE dx/dsigma = (x - c) / sigma has the solution
  // x(sigma) = c + (x_0 - c) sigma / sigma_0, and Euler, Heun and DPM-Solver++ are all exact on
  // it: at every step the latent must be on that line, up to the float32 rounding of the step
  // coefficients (~1e-7 relative each, so 1e-6 of |x_0| after a few steps).
  DiscreteSchedule sd;
  const double c = 0.25;
  auto denoise = [c](const torch::Tensor& x, const torch::Tensor&) {
    return torch::full_like(x, c);
  };
  for (const char* sampler : {"euler", "heun", "dpmpp_2m", "ddim"}) {
    torch::Tensor sigmas = MakeSigmas("normal", sd, 6);
    torch::Tensor x0 = InitialNoise(3, 4, 8, 8).to(torch::kFloat64) * sigmas[0].item<double>();
    const double tolerance = 1e-6 * x0.abs().max().item<double>();
    CountingNoise noise(x0.sizes().vec());
    int calls = 0;
    auto check = [&](int step, int total, const torch::Tensor& x, const torch::Tensor& den) {
      EXPECT_EQ(step, calls++);
      EXPECT_EQ(total, 6);
      const double ratio = sigmas[step].item<double>() / sigmas[0].item<double>();
      EXPECT_LE((x - (c + (x0 - c) * ratio)).abs().max().item<double>(), tolerance)
          << sampler << " step " << step;
      EXPECT_TRUE(torch::allclose(den, torch::full_like(x, c)));
      return true;
    };
    torch::Tensor out = Sample(sampler, denoise, x0, sigmas, noise, check);
    EXPECT_EQ(calls, 6);
    EXPECT_EQ(out.dtype(), torch::kFloat64);  // x's dtype is kept
    EXPECT_LE((out - c).abs().max().item<double>(), tolerance) << sampler;
    EXPECT_EQ(noise.calls, 0) << sampler;
  }
}

TEST(Samplers, ModelAndNoiseCallCounts) {
  DiscreteSchedule sd;
  struct Case {
    const char* sampler;
    int model_calls;  // for 6 steps
    int noise_calls;
  };
  const Case cases[] = {
      {"euler", 6, 0},        {"euler_ancestral", 6, 5}, {"heun", 11, 0}, {"dpmpp_2m", 6, 0},
      {"dpmpp_2m_sde", 6, 5}, {"dpmpp_sde", 11, 10},     {"ddim", 6, 0},  {"lcm", 6, 5},
  };
  for (const Case& c : cases) {
    torch::Tensor sigmas = MakeSigmas("karras", sd, 6);
    torch::Tensor x = InitialNoise(4, 4, 8, 8) * sigmas[0];
    CountingNoise noise(x.sizes().vec());
    int model_calls = 0;
    auto denoise = [&](const torch::Tensor& xx, const torch::Tensor& sigma) {
      ++model_calls;
      EXPECT_EQ(sigma.sizes(), (std::vector<int64_t>{1}));
      EXPECT_EQ(sigma.dtype(), torch::kFloat32);
      return xx * 0.5;
    };
    Sample(c.sampler, denoise, x, sigmas, noise);
    EXPECT_EQ(model_calls, c.model_calls) << c.sampler;
    EXPECT_EQ(noise.calls, c.noise_calls) << c.sampler;
  }
}

TEST(Samplers, CallbackCancels) {
  DiscreteSchedule sd;
  torch::Tensor sigmas = MakeSigmas("normal", sd, 10);
  torch::Tensor x = InitialNoise(5, 4, 8, 8) * sigmas[0];
  GaussianNoiseSampler noise(6, x.sizes().vec());
  int model_calls = 0;
  auto denoise = [&](const torch::Tensor& xx, const torch::Tensor&) {
    ++model_calls;
    return xx * 0.1;
  };
  auto stop_at_3 = [](int step, int, const torch::Tensor&, const torch::Tensor&) {
    return step < 2;
  };
  try {
    Sample("Euler a", denoise, x, sigmas, noise, stop_at_3);
    FAIL() << "expected kCancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kCancelled);
  }
  EXPECT_EQ(model_calls, 3);
}

TEST(Samplers, BatchesUsePerItemSigmas) {
  DiscreteSchedule sd;
  torch::Tensor sigmas = MakeSigmas("karras", sd, 4);
  torch::Tensor x = BatchNoise(7, 2, 4, 8, 8) * sigmas[0];
  GaussianNoiseSampler noise(8, x.sizes().vec());
  auto denoise = [](const torch::Tensor& xx, const torch::Tensor& sigma) {
    EXPECT_EQ(sigma.sizes(), (std::vector<int64_t>{2}));
    return torch::tanh(xx / (sigma.view({-1, 1, 1, 1}) + 1));
  };
  torch::Tensor out = Sample("dpmpp_2m_sde", denoise, x, sigmas, noise);
  EXPECT_EQ(out.sizes(), x.sizes());
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST(Samplers, BadInputs) {
  DiscreteSchedule sd;
  torch::Tensor sigmas = MakeSigmas("karras", sd, 4);
  torch::Tensor x = InitialNoise(1, 4, 8, 8);
  GaussianNoiseSampler noise(1, x.sizes().vec());
  EXPECT_EQ(CodeOf([&] { Sample("euler b", ZeroDenoiser, x, sigmas, noise); }),
            Code::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { Sample("DPM++ 2M Karras", ZeroDenoiser, x, sigmas, noise); }),
            Code::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] {
              Sample("euler", ZeroDenoiser, x, sigmas.view({1, -1}), noise);
            }),
            Code::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { Sample("euler", ZeroDenoiser, x, -sigmas, noise); }),
            Code::kInvalidArgument);
  GaussianNoiseSampler wrong(1, {2, 4, 8, 8});
  EXPECT_EQ(CodeOf([&] { Sample("euler_ancestral", ZeroDenoiser, x * 14, sigmas, wrong); }),
            Code::kInvalidArgument);
  // No steps (a single sigma): x comes back unchanged.
  EXPECT_TRUE(torch::equal(Sample("heun", ZeroDenoiser, x, sigmas.slice(0, 0, 1), noise), x));
}

}  // namespace
}  // namespace easel::engine

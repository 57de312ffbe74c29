// The discrete SD noise schedule and prediction-type formulas (see model_sampling.h).
#include "engine/sample/model_sampling.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

namespace easel::engine {
namespace {

// sigma [N] or 0-dim -> [N, 1, ..., 1] (ndim dims) or 0-dim, to broadcast over x: [N, ...].
torch::Tensor BroadcastSigma(const torch::Tensor& sigma, int64_t ndim) {
  if (sigma.dim() == 0) return sigma;
  std::vector<int64_t> shape(static_cast<size_t>(ndim), 1);
  shape[0] = sigma.size(0);
  return sigma.reshape(shape);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const char* PredictionName(Prediction prediction) {
  switch (prediction) {
    case Prediction::kEps: return "eps";
    case Prediction::kV: return "v";
  }
  return "?";
}

Result<Prediction> ParsePrediction(const std::string& name) {
  const std::string n = Lower(name);
  if (n == "eps" || n == "epsilon") return Prediction::kEps;
  if (n == "v" || n == "v_prediction") return Prediction::kV;
  return InvalidArgument("unknown prediction type '" + name +
                         "': expected eps (epsilon) or v (v_prediction)");
}

Result<ScheduleConfig> ScheduleConfigFromDiffusers(const nlohmann::json& config) {
  ScheduleConfig out;
  if (!config.is_object()) return InvalidArgument("scheduler config: expected a JSON object");
  auto number = [&](const char* key, double* value) -> Status {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return Status::Ok();
    if (!it->is_number())
      return InvalidArgument(std::string("scheduler config: '") + key +
                             "' should be a number, got " + it->dump());
    *value = it->get<double>();
    return Status::Ok();
  };
  EASEL_RETURN_IF_ERROR(number("beta_start", &out.beta_start));
  EASEL_RETURN_IF_ERROR(number("beta_end", &out.beta_end));
  double timesteps = out.num_train_timesteps;
  EASEL_RETURN_IF_ERROR(number("num_train_timesteps", &timesteps));
  if (timesteps != std::floor(timesteps) || timesteps < 2 || timesteps > 100000)
    return InvalidArgument(
        "scheduler config: num_train_timesteps should be an integer in "
        "2..100000, got " +
        std::to_string(timesteps));
  out.num_train_timesteps = static_cast<int>(timesteps);
  if (auto it = config.find("beta_schedule"); it != config.end() && !it->is_null()) {
    const std::string name = it->is_string() ? it->get<std::string>() : it->dump();
    if (name == "scaled_linear") {
      out.beta_schedule = BetaSchedule::kScaledLinear;
    } else if (name == "linear") {
      out.beta_schedule = BetaSchedule::kLinear;
    } else {
      return InvalidArgument("scheduler config: beta_schedule '" + name +
                             "' is not supported: Easel knows scaled_linear (SD1.x/SD2.x) and "
                             "linear");
    }
  }
  if (!(out.beta_start > 0 && out.beta_start < 1 && out.beta_end > 0 && out.beta_end < 1))
    return InvalidArgument("scheduler config: beta_start and beta_end should lie in (0, 1), got " +
                           std::to_string(out.beta_start) + " and " + std::to_string(out.beta_end));
  return out;
}

DiscreteSchedule::DiscreteSchedule(const ScheduleConfig& config) : config_(config) {
  const double start = config.beta_start, end = config.beta_end;
  const int64_t steps = config.num_train_timesteps;
  if (!(start > 0 && start < 1 && end > 0 && end < 1) || steps < 2 || steps > 100000)
    throw Error(Code::kInvalidArgument,
                "noise schedule: need 0 < beta_start, beta_end < 1 and 2..100000 timesteps, got " +
                    std::to_string(start) + ", " + std::to_string(end) + ", " +
                    std::to_string(steps));
  // ComfyUI make_beta_schedule (float64): "linear" (= diffusers scaled_linear) squares a
  // linspace of square roots; "sqrt_linear" (= diffusers linear) is the plain linspace.
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor betas;  // [T] float64
  if (config.beta_schedule == BetaSchedule::kScaledLinear) {
    betas = torch::linspace(std::pow(start, 0.5), std::pow(end, 0.5), steps, f64).pow(2);
  } else {
    betas = torch::linspace(start, end, steps, f64);
  }
  torch::Tensor alphas_cumprod = torch::cumprod(1.0 - betas, 0);            // [T] float64
  torch::Tensor sigmas = ((1 - alphas_cumprod) / alphas_cumprod).pow(0.5);  // [T] float64
  sigmas_ = sigmas.to(torch::kFloat32);
  log_sigmas_ = sigmas.log().to(torch::kFloat32);
  sigma_min_ = sigmas_[0].item<float>();
  sigma_max_ = sigmas_[steps - 1].item<float>();
}

torch::Tensor DiscreteSchedule::Timestep(const torch::Tensor& sigma) const {
  // ComfyUI ModelSamplingDiscrete.timestep: argmin_t |log(sigma) - log_sigmas[t]|, in float32.
  torch::Tensor log_sigma = sigma.detach().to(torch::kCPU, torch::kFloat32).log();
  torch::Tensor dists = log_sigma.reshape({1, -1}) - log_sigmas_.reshape({-1, 1});  // [T, n]
  return dists.abs().argmin(0).view(sigma.sizes()).to(sigma.device());
}

int64_t DiscreteSchedule::Timestep(float sigma) const {
  return Timestep(torch::scalar_tensor(sigma, torch::kFloat32)).item<int64_t>();
}

float DiscreteSchedule::Sigma(float t) const {
  // ComfyUI ModelSamplingDiscrete.sigma, on 0-dim float32 tensors like the reference.
  torch::Tensor tt =
      torch::scalar_tensor(t, torch::kFloat32).clamp(0, static_cast<double>(num_timesteps() - 1));
  torch::Tensor low = tt.floor().to(torch::kLong);
  torch::Tensor high = tt.ceil().to(torch::kLong);
  torch::Tensor w = tt.frac();
  torch::Tensor log_sigma = (1 - w) * log_sigmas_.index({low}) + w * log_sigmas_.index({high});
  return log_sigma.exp().item<float>();
}

torch::Tensor CalculateInput(const torch::Tensor& sigma, const torch::Tensor& x) {
  torch::Tensor s = BroadcastSigma(sigma, x.dim());
  return x / (s.pow(2) + 1).pow(0.5);
}

torch::Tensor CalculateDenoised(Prediction prediction, const torch::Tensor& sigma,
                                const torch::Tensor& model_output,
                                const torch::Tensor& model_input) {
  torch::Tensor s = BroadcastSigma(sigma, model_output.dim());
  switch (prediction) {
    case Prediction::kEps:  // ComfyUI EPS.calculate_denoised
      return model_input - model_output * s;
    case Prediction::kV: {  // ComfyUI V_PREDICTION.calculate_denoised, sigma_data = 1
      torch::Tensor s2 = s.pow(2) + 1;
      return model_input / s2 - model_output * s / s2.pow(0.5);
    }
  }
  throw Error(Code::kInternal, "CalculateDenoised: unknown prediction type");
}

torch::Tensor NoiseScaling(const torch::Tensor& sigma, const torch::Tensor& noise,
                           const torch::Tensor& latent, bool max_denoise) {
  torch::Tensor s = BroadcastSigma(sigma, noise.dim());
  torch::Tensor scaled = max_denoise ? noise * (1.0 + s.pow(2)).sqrt() : noise * s;
  return scaled + latent;
}

bool IsMaxDenoise(const DiscreteSchedule& schedule, float first_sigma) {
  // math.isclose(sigma_max, first, rel_tol=1e-5) or first > sigma_max, in double like Python.
  const double max_sigma = schedule.sigma_max(), sigma = first_sigma;
  return std::abs(max_sigma - sigma) <= 1e-5 * std::max(std::abs(max_sigma), std::abs(sigma)) ||
         sigma > max_sigma;
}

}  // namespace easel::engine

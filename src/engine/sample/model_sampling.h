// The discrete noise schedule of SD1.x/SD2.x (DDPM betas seen as k-diffusion sigmas) and
// the prediction-type formulas that turn a UNet output into a denoised latent.
//
// Follows ComfyUI's comfy/model_sampling.py (ModelSamplingDiscrete, EPS, V_PREDICTION) with
// sigma_data = 1: betas and their cumulative product in float64, sigmas = sqrt((1 - acp) / acp)
// rounded to float32; timestep(sigma) = nearest index in log-sigma; sigma(t) = log-linear
// interpolation between neighbouring indices. Not here: EDM, flow (CONST) or cosine schedules.
//
// Thread-safety: a DiscreteSchedule is immutable after construction; share it freely.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "util/status.h"

namespace easel::engine {

// diffusers' names: kScaledLinear = linspace(sqrt(start), sqrt(end), T)^2 (SD's schedule, which
// LDM/ComfyUI call "linear"); kLinear = linspace(start, end, T) (ComfyUI's "sqrt_linear").
enum class BetaSchedule { kLinear, kScaledLinear };

enum class Prediction {
  kEps,  // the UNet predicts the added noise (SD1.x, SD2.x-base)
  kV,    // the UNet predicts v = alpha * eps - sigma_t * x0 (SD2.x 768-v)
};

const char* PredictionName(Prediction prediction);  // "eps" | "v"
// Accepts "eps"/"epsilon" and "v"/"v_prediction" (diffusers' prediction_type values).
Result<Prediction> ParsePrediction(const std::string& name);

struct ScheduleConfig {
  double beta_start = 0.00085;
  double beta_end = 0.012;
  BetaSchedule beta_schedule = BetaSchedule::kScaledLinear;
  int num_train_timesteps = 1000;
};

// Reads beta_start, beta_end, beta_schedule ("linear" | "scaled_linear") and
// num_train_timesteps from a diffusers scheduler_config.json object; absent keys keep the SD
// defaults. kInvalidArgument for wrong types, unknown schedules or out-of-range values.
Result<ScheduleConfig> ScheduleConfigFromDiffusers(const nlohmann::json& config);

class DiscreteSchedule {
 public:
  // Throws easel::Error(kInvalidArgument) when the config is out of range (betas must lie in
  // (0, 1), 2 <= num_train_timesteps <= 100000).
  explicit DiscreteSchedule(const ScheduleConfig& config = {});

  const ScheduleConfig& config() const { return config_; }
  int64_t num_timesteps() const { return sigmas_.size(0); }
  // sigmas()[t] is the noise level of training timestep t, ascending. [T] float32, CPU.
  const torch::Tensor& sigmas() const { return sigmas_; }
  // log(sigma) computed in float64 then rounded, as ComfyUI. [T] float32, CPU.
  const torch::Tensor& log_sigmas() const { return log_sigmas_; }
  float sigma_min() const { return sigma_min_; }  // sigmas()[0]
  float sigma_max() const { return sigma_max_; }  // sigmas()[T - 1]

  // Index of the training timestep whose log-sigma is nearest to log(sigma) (first on ties).
  int64_t Timestep(float sigma) const;
  // Elementwise Timestep over a tensor of sigmas (any shape, any device): int64, same shape
  // and device. This is what the UNet's timestep embedding receives.
  torch::Tensor Timestep(const torch::Tensor& sigma) const;
  // sigma at a fractional timestep t (clamped to [0, T-1]): exp of the linear interpolation
  // of log-sigma between floor(t) and ceil(t), in float32.
  float Sigma(float t) const;

 private:
  ScheduleConfig config_;
  torch::Tensor sigmas_;      // [T] float32
  torch::Tensor log_sigmas_;  // [T] float32
  float sigma_min_ = 0;
  float sigma_max_ = 0;
};

// The k-diffusion model wrapper's formulas (sigma_data = 1). `sigma` is a 0-dim tensor or one
// sigma per batch item ([N]); it is broadcast over the trailing dimensions of x. Results take
// torch's type promotion of the operands (float32 for float32 sigmas and latents).

// UNet input from the noisy latent: x / sqrt(sigma^2 + 1).
torch::Tensor CalculateInput(const torch::Tensor& sigma, const torch::Tensor& x);

// Denoised latent (x0) from the UNet output and the unscaled noisy latent it was given:
//   eps: x - eps * sigma
//   v:   x / (sigma^2 + 1) - v * sigma / sqrt(sigma^2 + 1)
torch::Tensor CalculateDenoised(Prediction prediction, const torch::Tensor& sigma,
                                const torch::Tensor& model_output,
                                const torch::Tensor& model_input);

// The starting latent of a sampling run, as ComfyUI: noise * sigma + latent, or
// noise * sqrt(1 + sigma^2) + latent when max_denoise (sampling from the schedule's top sigma,
// i.e. txt2img or img2img at denoise 1, where the latent is fully replaced).
torch::Tensor NoiseScaling(const torch::Tensor& sigma, const torch::Tensor& noise,
                           const torch::Tensor& latent, bool max_denoise);

// ComfyUI's KSampler max_denoise test: the run starts at (within 1e-5 relative) or above the
// schedule's top sigma.
bool IsMaxDenoise(const DiscreteSchedule& schedule, float first_sigma);

}  // namespace easel::engine

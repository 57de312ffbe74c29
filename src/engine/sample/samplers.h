// The k-diffusion samplers Easel offers, as ComfyUI runs them for eps and v models.
//
// A sampler sees only a denoise function DenoiseFn(x, sigma) -> x0 (CFG and conditioning live
// in whoever builds it), walks the given sigmas (schedules.h) from x = noise already scaled to
// sigmas[0] (NoiseScaling in model_sampling.h), and returns the final latent.
//
//   euler            Karras et al. 2022 (arXiv:2206.00364) Alg. 2 without churn (sample_euler)
//   euler_ancestral  Euler step to sigma_down, then noise of sigma_up; eta = 1, s_noise = 1
//   heun             Karras et al. 2022 Alg. 2, 2nd order (sample_heun)
//   dpmpp_2m         DPM-Solver++(2M), Lu et al. 2022 (arXiv:2211.01095) Alg. 2
//   dpmpp_2m_sde     DPM-Solver++(2M) SDE, midpoint solver, eta = 1
//   dpmpp_sde        DPM-Solver++ stochastic 2nd order (SDE-DPM-Solver++ 2S), eta = 1, r = 1/2
//   ddim             ComfyUI runs its "ddim" as euler; so do we
//   lcm              Luo et al. 2023 (arXiv:2310.04378) multistep: x = x0, re-noised to sigma_next
// The one intended difference from ComfyUI: its SDE samplers (dpmpp_2m_sde, dpmpp_sde) draw
// noise from a Brownian tree (torchsde); ours take every step's noise from the NoiseSampler
// (normally GaussianNoiseSampler). The noise has the same distribution but other numbers, so
// those two samplers give different (equally valid) images from the same seed.
//
// Names: ComfyUI's (above) and A1111's ("Euler", "Euler a", "Heun", "DPM++ 2M",
// "DPM++ 2M SDE", "DPM++ SDE", "DDIM", "LCM"), case-insensitive. A1111 names may carry a
// scheduler ("DPM++ 2M Karras"); ResolveSamplerName() splits those.
//
// Numerics: step coefficients are computed on 0-dim float32 tensors from the float32 sigmas,
// in the reference's order of operations; x keeps its dtype and device.
// Thread-safety: Sample() is reentrant; the DenoiseFn, NoiseSampler and callback are called on
// the calling thread only.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/sample/noise.h"
#include "util/status.h"

namespace easel::engine {

// x: [N, C, H, W] noisy latent at noise level sigma; sigma: [N] float32 on x's device (one
// sigma per batch item, all equal here). Returns the denoised latent x0, shaped and typed
// like x.
using DenoiseFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& sigma)>;

// Called once per step after the model evaluation, before x moves: step is the 0-based step
// index, total the number of steps, x the current latent and denoised its x0 prediction.
// Return false to cancel: Sample() then throws easel::Error(kCancelled).
using StepCallback =
    std::function<bool(int step, int total, const torch::Tensor& x, const torch::Tensor& denoised)>;

// The canonical (ComfyUI) sampler names, in display order.
std::vector<std::string> SamplerNames();

// Maps a ComfyUI or A1111 sampler name to its canonical name. An A1111 name with a scheduler
// suffix ("DPM++ 2M Karras", "Euler a Exponential") sets *scheduler_override to the canonical
// scheduler ("karras"); otherwise it is cleared. kInvalidArgument listing the valid names when
// the name is unknown. scheduler_override may be null.
Status ResolveSamplerName(const std::string& name, std::string* sampler,
                          std::string* scheduler_override);

// Runs `sampler` over sigmas ([steps + 1] float32, descending, normally ending in 0; any
// device) from x ([N, ...], already NoiseScaling-ed to sigmas[0]) and returns the final
// latent. Throws easel::Error: kInvalidArgument for an unknown name, a name carrying a
// scheduler (resolve it first), or bad sigmas; kCancelled when the callback says stop.
// Exceptions from the DenoiseFn or NoiseSampler pass through.
torch::Tensor Sample(const std::string& sampler, const DenoiseFn& denoise, torch::Tensor x,
                     const torch::Tensor& sigmas, NoiseSampler& noise,
                     const StepCallback& callback = nullptr);

}  // namespace easel::engine

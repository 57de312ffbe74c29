// Sampling schedules: the descending sigmas a sampler walks, ending in 0.
//
// Each follows ComfyUI's scheduler of the same name (comfy/samplers.py and
// comfy/k_diffusion/sampling.py) over a DiscreteSchedule:
//   normal       uniform in timestep from T-1 to 0, sigma(t) interpolated in log-sigma
//   karras       Karras et al. 2022 (arXiv:2206.00364) eq. 5, rho = 7, sigma_min..sigma_max
//   exponential  uniform in log-sigma from sigma_max to sigma_min
//   sgm_uniform  as normal over steps + 1 points, dropping the last (Stability's SGM)
//   simple       every (T / steps)-th training sigma from the top
//   ddim_uniform every (T // steps)-th training sigma from index 1 (LDM's DDIM "uniform")
//   beta         timesteps at quantiles of Beta(0.6, 0.6) (Lee et al. 2024, arXiv:2407.12173),
//                duplicates dropped
// A1111 names are accepted too: Automatic/Normal -> normal, Karras, Exponential, SGM Uniform,
// Simple, DDIM -> ddim_uniform, Beta (case-insensitive).
//
// Lengths: steps + 1, except where ComfyUI's own arithmetic differs: ddim_uniform can give a
// few more points when steps does not divide T (T = 1000, steps = 7: 9 sigmas) and beta
// fewer when quantiles round to the same timestep.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "engine/sample/model_sampling.h"

namespace easel::engine {

// The canonical (ComfyUI) scheduler names, in display order.
std::vector<std::string> SchedulerNames();

// Maps a ComfyUI or A1111 scheduler name (any case) to its canonical name. Returns
// kInvalidArgument naming the valid names when it is not one.
Result<std::string> ResolveSchedulerName(const std::string& name);

// Sigmas for `steps` sampling steps: float32 [steps + 1] (see above), descending, last = 0,
// on the CPU. Throws easel::Error(kInvalidArgument) for an unknown scheduler name (the message
// lists the valid ones) or steps outside 1..10000.
torch::Tensor MakeSigmas(const std::string& scheduler, const DiscreteSchedule& schedule, int steps);

// k-diffusion's get_sigmas_karras / get_sigmas_exponential over explicit bounds (the
// schedulers above pass the schedule's sigma_min and sigma_max). float32 [n + 1], CPU.
torch::Tensor KarrasSigmas(int n, double sigma_min, double sigma_max, double rho = 7.0);
torch::Tensor ExponentialSigmas(int n, double sigma_min, double sigma_max);

}  // namespace easel::engine

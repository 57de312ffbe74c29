// Sampling schedules (see schedules.h). Each function mirrors the arithmetic of its reference
// (float32 tensor ops where the reference uses tensors, double where it uses Python floats) so
// that sigmas agree with ComfyUI to the last bit or two.
#include "engine/sample/schedules.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <utility>

#include "engine/sample/beta_quantile.h"

namespace easel::engine {
namespace {

constexpr int kMaxSteps = 10000;

// Canonical name and the A1111 label that maps to it (lower-cased when compared).
const std::vector<std::pair<std::string, std::vector<std::string>>>& SchedulerTable() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> table = {
      {"normal", {"normal", "automatic"}},
      {"karras", {"karras"}},
      {"exponential", {"exponential"}},
      {"sgm_uniform", {"sgm_uniform", "sgm uniform"}},
      {"simple", {"simple"}},
      {"ddim_uniform", {"ddim_uniform", "ddim"}},
      {"beta", {"beta"}},
  };
  return table;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string JoinedNames() {
  std::string out;
  for (const std::string& name : SchedulerNames()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

torch::Tensor FromFloats(const std::vector<float>& values) {
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat32));
}

torch::Tensor AppendZero(const torch::Tensor& sigmas) {
  return torch::cat({sigmas, torch::zeros({1}, sigmas.options())});
}

// ComfyUI normal_scheduler (sgm = false) and the sgm_uniform variant (sgm = true).
torch::Tensor NormalSigmas(const DiscreteSchedule& s, int steps, bool sgm) {
  const int64_t start = s.Timestep(s.sigma_max());
  const int64_t end = s.Timestep(s.sigma_min());
  bool append_zero = true;
  torch::Tensor timesteps;  // [n] float32
  if (sgm) {
    timesteps = torch::linspace(static_cast<double>(start), static_cast<double>(end), steps + 1)
                    .slice(0, 0, steps);
  } else {
    // A schedule whose last sigma is already 0 (zero terminal SNR) keeps it instead of
    // appending another.
    if (std::abs(static_cast<double>(s.Sigma(static_cast<float>(end)))) <= 1e-5) {
      steps += 1;
      append_zero = false;
    }
    timesteps = torch::linspace(static_cast<double>(start), static_cast<double>(end), steps);
  }
  std::vector<float> sigmas;
  const auto* t = timesteps.data_ptr<float>();
  for (int64_t i = 0; i < timesteps.size(0); ++i) sigmas.push_back(s.Sigma(t[i]));
  if (append_zero) sigmas.push_back(0.0f);
  return FromFloats(sigmas);
}

// ComfyUI simple_scheduler: ss = T / steps (Python float); sigmas[-(1 + int(i * ss))].
torch::Tensor SimpleSigmas(const DiscreteSchedule& s, int steps) {
  const int64_t count = s.num_timesteps();
  const auto* all = s.sigmas().data_ptr<float>();
  const double ss = static_cast<double>(count) / steps;
  std::vector<float> sigmas;
  for (int i = 0; i < steps; ++i) {
    const auto back = static_cast<int64_t>(i * ss);  // int() truncates like the reference
    sigmas.push_back(all[count - 1 - back]);
  }
  sigmas.push_back(0.0f);
  return FromFloats(sigmas);
}

// ComfyUI ddim_scheduler: sigmas[1], sigmas[1 + ss], ... with ss = max(T // steps, 1), reversed.
torch::Tensor DdimUniformSigmas(const DiscreteSchedule& s, int steps) {
  const int64_t count = s.num_timesteps();
  const auto* all = s.sigmas().data_ptr<float>();
  std::vector<float> sigmas;
  if (std::abs(static_cast<double>(all[1])) <= 1e-5) {
    steps += 1;  // sigmas[1] is (almost) 0: it becomes the final sigma
  } else {
    sigmas.push_back(0.0f);
  }
  const int64_t ss = std::max<int64_t>(count / steps, 1);
  for (int64_t x = 1; x < count; x += ss) sigmas.push_back(all[x]);
  std::reverse(sigmas.begin(), sigmas.end());
  return FromFloats(sigmas);
}

// ComfyUI beta_scheduler (alpha = beta = 0.6): timesteps rint(ppf(1 - i / steps) * (T - 1)),
// consecutive duplicates dropped, then 0.
torch::Tensor BetaSigmas(const DiscreteSchedule& s, int steps, double alpha = 0.6,
                         double beta = 0.6) {
  const int64_t total = s.num_timesteps() - 1;
  const auto* all = s.sigmas().data_ptr<float>();
  const double step = 1.0 / steps;  // numpy.linspace(0, 1, steps, endpoint=False)
  std::vector<float> sigmas;
  double last_t = -1;
  for (int i = 0; i < steps; ++i) {
    const double q = 1.0 - i * step;
    const double t = std::nearbyint(BetaQuantile(q, alpha, beta) * static_cast<double>(total));
    if (t != last_t) sigmas.push_back(all[static_cast<int64_t>(t)]);
    last_t = t;
  }
  sigmas.push_back(0.0f);
  return FromFloats(sigmas);
}

}  // namespace

std::vector<std::string> SchedulerNames() {
  std::vector<std::string> names;
  for (const auto& entry : SchedulerTable()) names.push_back(entry.first);
  return names;
}

Result<std::string> ResolveSchedulerName(const std::string& name) {
  const std::string key = Lower(name);
  for (const auto& [canonical, aliases] : SchedulerTable())
    for (const std::string& alias : aliases)
      if (key == alias) return canonical;
  return InvalidArgument("unknown scheduler '" + name + "': use one of " + JoinedNames() +
                         " (A1111 names such as Automatic, Karras or SGM Uniform work too)");
}

torch::Tensor KarrasSigmas(int n, double sigma_min, double sigma_max, double rho) {
  // k-diffusion get_sigmas_karras: (max^(1/rho) + ramp * (min^(1/rho) - max^(1/rho)))^rho.
  torch::Tensor ramp = torch::linspace(0, 1, n);  // [n] float32
  const double min_inv_rho = std::pow(sigma_min, 1 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1 / rho);
  torch::Tensor sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)).pow(rho);
  return AppendZero(sigmas);
}

torch::Tensor ExponentialSigmas(int n, double sigma_min, double sigma_max) {
  // k-diffusion get_sigmas_exponential: uniform in log-sigma.
  torch::Tensor sigmas = torch::linspace(std::log(sigma_max), std::log(sigma_min), n).exp();
  return AppendZero(sigmas);
}

torch::Tensor MakeSigmas(const std::string& scheduler, const DiscreteSchedule& schedule,
                         int steps) {
  const std::string name = ResolveSchedulerName(scheduler).ValueOrThrow();
  if (steps < 1 || steps > kMaxSteps)
    throw Error(Code::kInvalidArgument, "scheduler " + name + ": steps must be in 1.." +
                                            std::to_string(kMaxSteps) + ", got " +
                                            std::to_string(steps));
  // ComfyUI passes float(model_sampling.sigma_min / sigma_max): float32 values as doubles.
  const double sigma_min = schedule.sigma_min(), sigma_max = schedule.sigma_max();
  if (name == "normal") return NormalSigmas(schedule, steps, /*sgm=*/false);
  if (name == "karras") return KarrasSigmas(steps, sigma_min, sigma_max);
  if (name == "exponential") return ExponentialSigmas(steps, sigma_min, sigma_max);
  if (name == "sgm_uniform") return NormalSigmas(schedule, steps, /*sgm=*/true);
  if (name == "simple") return SimpleSigmas(schedule, steps);
  if (name == "ddim_uniform") return DdimUniformSigmas(schedule, steps);
  if (name == "beta") return BetaSigmas(schedule, steps);
  throw Error(Code::kInternal, "scheduler '" + name + "' is listed but not implemented");
}

}  // namespace easel::engine

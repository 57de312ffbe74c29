// The k-diffusion samplers (see samplers.h).
//
// Each sampler follows the k-diffusion function named in its comment (crowsonkb/k-diffusion
// sampling.py, as vendored and adjusted by ComfyUI in comfy/k_diffusion/sampling.py) with
// s_churn = 0, eta = 1, s_noise = 1. Scalar step math runs on 0-dim float32 CPU tensors taken
// from the float32 sigmas, in the reference's order of operations, so that the results agree
// with it to float32 rounding; multiplying a latent by a 0-dim tensor keeps the latent's dtype.
#include "engine/sample/samplers.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <utility>

#include "engine/sample/model_sampling.h"
#include "engine/sample/schedules.h"

namespace easel::engine {
namespace {

using torch::Tensor;

constexpr double kEta = 1.0;     // ancestral / SDE noise amount (ComfyUI's default)
constexpr double kSNoise = 1.0;  // noise multiplier (ComfyUI's default)

// Canonical name and the lower-cased names that select it (ComfyUI's first, then A1111's).
const std::vector<std::pair<std::string, std::vector<std::string>>>& SamplerTable() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> table = {
      {"euler", {"euler"}},
      {"euler_ancestral", {"euler_ancestral", "euler a"}},
      {"heun", {"heun"}},
      {"dpmpp_2m", {"dpmpp_2m", "dpm++ 2m"}},
      {"dpmpp_2m_sde", {"dpmpp_2m_sde", "dpm++ 2m sde"}},
      {"dpmpp_sde", {"dpmpp_sde", "dpm++ sde"}},
      {"ddim", {"ddim"}},
      {"lcm", {"lcm"}},
  };
  return table;
}

// Lower-cased, trimmed, inner runs of whitespace collapsed to one space.
std::string Normalize(const std::string& name) {
  std::istringstream words(name);
  std::string word, out;
  while (words >> word) out += (out.empty() ? "" : " ") + word;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

const std::string* FindSampler(const std::string& normalized) {
  for (const auto& [canonical, aliases] : SamplerTable())
    for (const std::string& alias : aliases)
      if (normalized == alias) return &canonical;
  return nullptr;
}

// Everything one run needs; the sampler functions below only add the math.
struct Run {
  const DenoiseFn& denoise;
  NoiseSampler& noise_sampler;
  const StepCallback& callback;
  Tensor sigmas;  // [steps + 1] float32, CPU, contiguous
  Tensor s_in;    // [N] float32 ones on x's device: a per-item sigma is sigma * s_in
  std::vector<int64_t> x_shape;
  int steps = 0;

  Tensor Sigma(int i) const { return sigmas[i]; }  // 0-dim float32

  // model(x, sigma * s_in) -> x0, checked for shape.
  Tensor Denoise(const Tensor& x, const Tensor& sigma) const {
    Tensor denoised = denoise(x, sigma * s_in);
    if (denoised.sizes() != x.sizes())
      throw Error(Code::kInternal, "sampler: the denoiser returned " + Shape(denoised) +
                                       " for a latent of " + Shape(x));
    return denoised;
  }

  Tensor Noise(const Tensor& sigma, const Tensor& sigma_next) const {
    Tensor noise = noise_sampler(sigma.item<float>(), sigma_next.item<float>());
    if (noise.sizes() != torch::IntArrayRef(x_shape))
      throw Error(Code::kInvalidArgument,
                  "sampler: the noise sampler gave " + Shape(noise.sizes()) + " for a latent of " +
                      Shape(x_shape) + ": build it with the latent's shape");
    return noise;
  }

  void Report(int i, const Tensor& x, const Tensor& denoised) const {
    if (callback && !callback(i, steps, x, denoised))
      throw Error(Code::kCancelled, "sampling cancelled after step " + std::to_string(i + 1) +
                                        " of " + std::to_string(steps));
  }

  static std::string Shape(torch::IntArrayRef sizes) {
    std::ostringstream out;
    out << sizes;
    return out.str();
  }
  static std::string Shape(const Tensor& t) { return Shape(t.sizes()); }
};

// k-diffusion to_d: the Karras ODE derivative dx/dsigma = (x - x0) / sigma.
Tensor ToD(const Tensor& x, const Tensor& sigma, const Tensor& denoised) {
  return (x - denoised) / sigma;
}

// DPM-Solver's time variable t = -log(sigma) and its inverse (k-diffusion t_fn / sigma_fn).
Tensor TFromSigma(const Tensor& sigma) {
  return sigma.log().neg();
}
Tensor SigmaFromT(const Tensor& t) {
  return t.neg().exp();
}

// k-diffusion get_ancestral_step: split a step sigma_from -> sigma_to into a deterministic
// step to sigma_down and fresh noise of sigma_up, with sigma_down^2 + sigma_up^2 = sigma_to^2.
std::pair<Tensor, Tensor> AncestralStep(const Tensor& sigma_from, const Tensor& sigma_to,
                                        double eta) {
  Tensor up =
      (sigma_to.pow(2) * (sigma_from.pow(2) - sigma_to.pow(2)) / sigma_from.pow(2)).pow(0.5) * eta;
  if (!(up.item<float>() < sigma_to.item<float>())) up = sigma_to;  // Python min(to, up)
  Tensor down = (sigma_to.pow(2) - up.pow(2)).pow(0.5);
  return {down, up};
}

// sample_euler (Karras et al. 2022, Alg. 2 with s_churn = 0, so sigma_hat = sigma).
Tensor SampleEuler(const Run& run, Tensor x) {
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i);
    Tensor denoised = run.Denoise(x, sigma);
    Tensor d = ToD(x, sigma, denoised);
    run.Report(i, x, denoised);
    Tensor dt = run.Sigma(i + 1) - sigma;
    x = x + d * dt;
  }
  return x;
}

// sample_euler_ancestral: Euler to sigma_down, plus noise * sigma_up. ComfyUI's form: when
// sigma_down is 0 (the last step) x becomes the denoised prediction exactly.
Tensor SampleEulerAncestral(const Run& run, Tensor x) {
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i), sigma_next = run.Sigma(i + 1);
    Tensor denoised = run.Denoise(x, sigma);
    auto [sigma_down, sigma_up] = AncestralStep(sigma, sigma_next, kEta);
    run.Report(i, x, denoised);
    if (sigma_down.item<float>() == 0) {
      x = denoised;
    } else {
      Tensor d = ToD(x, sigma, denoised);
      Tensor dt = sigma_down - sigma;
      x = x + d * dt + run.Noise(sigma, sigma_next) * kSNoise * sigma_up;
    }
  }
  return x;
}

// sample_heun (Karras et al. 2022, Alg. 2 with s_churn = 0): the Euler predictor corrected by
// the mean slope at both ends; a plain Euler step into sigma = 0.
Tensor SampleHeun(const Run& run, Tensor x) {
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i), sigma_next = run.Sigma(i + 1);
    Tensor denoised = run.Denoise(x, sigma);
    Tensor d = ToD(x, sigma, denoised);
    run.Report(i, x, denoised);
    Tensor dt = sigma_next - sigma;
    if (sigma_next.item<float>() == 0) {
      x = x + d * dt;
    } else {
      Tensor x_2 = x + d * dt;
      Tensor denoised_2 = run.Denoise(x_2, sigma_next);
      Tensor d_2 = ToD(x_2, sigma_next, denoised_2);
      Tensor d_prime = (d + d_2) / 2;
      x = x + d_prime * dt;
    }
  }
  return x;
}

// sample_dpmpp_2m: DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095, Alg. 2) in
// t = -log(sigma): first-order on the first and last steps, otherwise the linear
// extrapolation D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1} with r = h_last / h.
Tensor SampleDpmpp2m(const Run& run, Tensor x) {
  Tensor old_denoised;
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i), sigma_next = run.Sigma(i + 1);
    Tensor denoised = run.Denoise(x, sigma);
    run.Report(i, x, denoised);
    Tensor t = TFromSigma(sigma), t_next = TFromSigma(sigma_next);
    Tensor h = t_next - t;
    Tensor ratio = SigmaFromT(t_next) / SigmaFromT(t);
    if (!old_denoised.defined() || sigma_next.item<float>() == 0) {
      x = ratio * x - h.neg().expm1() * denoised;
    } else {
      Tensor h_last = t - TFromSigma(run.Sigma(i - 1));
      Tensor r = h_last / h;
      Tensor half_inv_r = (r * 2).reciprocal();
      Tensor denoised_d = (half_inv_r + 1) * denoised - half_inv_r * old_denoised;
      x = ratio * x - h.neg().expm1() * denoised_d;
    }
    old_denoised = denoised;
  }
  return x;
}

// sample_dpmpp_2m_sde, solver_type "midpoint": DPM-Solver++(2M) for the SDE (Lu et al. 2022,
// arXiv:2211.01095, sec. 4 / eq. 9) with eta = 1, h = log(sigma_i / sigma_{i+1}):
//   x = sigma_{i+1}/sigma_i e^{-eta h} x + (1 - e^{-(1+eta) h}) x0
//       + 1/2 (1 - e^{-(1+eta) h}) / r (x0 - x0_prev)          (from the second step)
//       + sigma_{i+1} sqrt(1 - e^{-2 eta h}) z
// and x = x0 on the step into sigma = 0.
Tensor SampleDpmpp2mSde(const Run& run, Tensor x) {
  Tensor old_denoised, h, h_last;
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i), sigma_next = run.Sigma(i + 1);
    Tensor denoised = run.Denoise(x, sigma);
    run.Report(i, x, denoised);
    if (sigma_next.item<float>() == 0) {
      x = denoised;
    } else {
      Tensor t = sigma.log().neg(), s = sigma_next.log().neg();
      h = s - t;
      Tensor eta_h = h * kEta;
      Tensor one_minus_decay = (h.neg() - eta_h).expm1().neg();  // 1 - e^{-(1+eta) h}
      x = sigma_next / sigma * eta_h.neg().exp() * x + one_minus_decay * denoised;
      if (old_denoised.defined()) {
        Tensor r = h_last / h;
        x = x + one_minus_decay * 0.5 * r.reciprocal() * (denoised - old_denoised);
      }
      if (kEta != 0) {
        Tensor noise_scale = (eta_h * -2).expm1().neg().sqrt();
        x = x + run.Noise(sigma, sigma_next) * sigma_next * noise_scale * kSNoise;
      }
    }
    old_denoised = denoised;
    h_last = h;
  }
  return x;
}

// sample_dpmpp_sde: the stochastic DPM-Solver++ second-order step of k-diffusion (Lu et al.
// 2022, arXiv:2211.01095, SDE-DPM-Solver++(2S) with r = 1/2): an ancestral half step to
// s = t + h/2 (model evaluated there), then an ancestral full step with the combined
// prediction (1 - 1/(2r)) x0 + 1/(2r) x0(s). x = x0 on the step into sigma = 0 (ComfyUI).
Tensor SampleDpmppSde(const Run& run, Tensor x) {
  constexpr double r = 0.5;
  constexpr double fac = 1 / (2 * r);
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i), sigma_next = run.Sigma(i + 1);
    Tensor denoised = run.Denoise(x, sigma);
    run.Report(i, x, denoised);
    if (sigma_next.item<float>() == 0) {
      x = denoised;
      continue;
    }
    Tensor t = TFromSigma(sigma), t_next = TFromSigma(sigma_next);
    Tensor h = t_next - t;
    Tensor s = t + h * r;
    // Step 1: ancestral step from t to s.
    auto [sd_1, su_1] = AncestralStep(SigmaFromT(t), SigmaFromT(s), kEta);
    Tensor s_ = TFromSigma(sd_1);
    Tensor x_2 = (SigmaFromT(s_) / SigmaFromT(t)) * x - (t - s_).expm1() * denoised;
    x_2 = x_2 + run.Noise(SigmaFromT(t), SigmaFromT(s)) * kSNoise * su_1;
    Tensor denoised_2 = run.Denoise(x_2, SigmaFromT(s));
    // Step 2: ancestral step from t to t_next with the combined prediction.
    auto [sd_2, su_2] = AncestralStep(SigmaFromT(t), SigmaFromT(t_next), kEta);
    Tensor t_next_ = TFromSigma(sd_2);
    Tensor denoised_d = denoised * (1 - fac) + denoised_2 * fac;
    x = (SigmaFromT(t_next_) / SigmaFromT(t)) * x - (t - t_next_).expm1() * denoised_d;
    x = x + run.Noise(SigmaFromT(t), SigmaFromT(t_next)) * kSNoise * su_2;
  }
  return x;
}

// ComfyUI sample_lcm (Luo et al. 2023, arXiv:2310.04378, multistep consistency sampling):
// jump to the model's x0, then re-noise it to sigma_next with fresh noise (NoiseScaling).
Tensor SampleLcm(const Run& run, Tensor x) {
  for (int i = 0; i < run.steps; ++i) {
    const Tensor sigma = run.Sigma(i), sigma_next = run.Sigma(i + 1);
    Tensor denoised = run.Denoise(x, sigma);
    run.Report(i, x, denoised);
    x = denoised;
    if (sigma_next.item<float>() > 0)
      x = NoiseScaling(sigma_next, run.Noise(sigma, sigma_next), x, /*max_denoise=*/false);
  }
  return x;
}

std::string JoinedSamplerNames() {
  std::string out;
  for (const std::string& name : SamplerNames()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::vector<std::string> SamplerNames() {
  std::vector<std::string> names;
  for (const auto& entry : SamplerTable()) names.push_back(entry.first);
  return names;
}

Status ResolveSamplerName(const std::string& name, std::string* sampler,
                          std::string* scheduler_override) {
  if (scheduler_override) scheduler_override->clear();
  const std::string key = Normalize(name);
  if (const std::string* canonical = FindSampler(key)) {
    *sampler = *canonical;
    return Status::Ok();
  }
  // A1111 "<sampler> <scheduler>", e.g. "dpm++ 2m karras", "dpm++ 2m sde exponential".
  for (size_t space = key.find(' '); space != std::string::npos; space = key.find(' ', space + 1)) {
    const std::string* canonical = FindSampler(key.substr(0, space));
    if (!canonical) continue;
    Result<std::string> scheduler = ResolveSchedulerName(key.substr(space + 1));
    if (!scheduler.ok()) continue;
    *sampler = *canonical;
    if (scheduler_override) *scheduler_override = scheduler.value();
    return Status::Ok();
  }
  return InvalidArgument("unknown sampler '" + name + "': use one of " + JoinedSamplerNames() +
                         " (A1111 names such as \"Euler a\" or \"DPM++ 2M Karras\" work too)");
}

torch::Tensor Sample(const std::string& sampler, const DenoiseFn& denoise, torch::Tensor x,
                     const torch::Tensor& sigmas, NoiseSampler& noise,
                     const StepCallback& callback) {
  std::string name, scheduler;
  Status status = ResolveSamplerName(sampler, &name, &scheduler);
  if (!status.ok()) throw Error(status);
  if (!scheduler.empty())
    throw Error(Code::kInvalidArgument,
                "sampler '" + sampler + "' also names the scheduler '" + scheduler +
                    "': split it with ResolveSamplerName and build the sigmas with that scheduler");
  if (sigmas.dim() != 1 || sigmas.size(0) < 1)
    throw Error(Code::kInvalidArgument,
                "sampler: sigmas should be a non-empty 1-D tensor, got " + Run::Shape(sigmas));
  if (x.dim() < 1 || x.size(0) < 1)
    throw Error(Code::kInvalidArgument,
                "sampler: the latent should be [N, ...], got " + Run::Shape(x));
  Tensor sigmas_cpu = sigmas.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (!torch::isfinite(sigmas_cpu).all().item<bool>() || (sigmas_cpu < 0).any().item<bool>())
    throw Error(Code::kInvalidArgument, "sampler: sigmas must be finite and >= 0");
  if (!denoise) throw Error(Code::kInvalidArgument, "sampler: no denoise function given");

  Run run{
      denoise,
      noise,
      callback,
      sigmas_cpu,
      torch::ones({x.size(0)}, torch::TensorOptions().dtype(torch::kFloat32).device(x.device())),
      x.sizes().vec(),
      static_cast<int>(sigmas_cpu.size(0) - 1)};
  torch::NoGradGuard no_grad;
  if (name == "euler" || name == "ddim") return SampleEuler(run, std::move(x));
  if (name == "euler_ancestral") return SampleEulerAncestral(run, std::move(x));
  if (name == "heun") return SampleHeun(run, std::move(x));
  if (name == "dpmpp_2m") return SampleDpmpp2m(run, std::move(x));
  if (name == "dpmpp_2m_sde") return SampleDpmpp2mSde(run, std::move(x));
  if (name == "dpmpp_sde") return SampleDpmppSde(run, std::move(x));
  if (name == "lcm") return SampleLcm(run, std::move(x));
  throw Error(Code::kInternal, "sampler '" + name + "' is listed but not implemented");
}

}  // namespace easel::engine

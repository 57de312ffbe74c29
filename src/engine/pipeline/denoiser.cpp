#include "engine/pipeline/denoiser.h"

#include <torch/torch.h>

#include "engine/nets/unet.h"
#include "engine/pipeline/unet_runner.h"
#include "util/status.h"

namespace easel::engine {

CfgDenoiser::CfgDenoiser(UNetImpl& unet, const DiscreteSchedule& schedule, Prediction prediction,
                         const Conditioning& cond, const Conditioning& uncond, double cfg_scale,
                         torch::ScalarType dtype, const torch::Tensor& concat)
    : unet_(unet),
      schedule_(schedule),
      prediction_(prediction),
      cfg_scale_(cfg_scale),
      dtype_(dtype) {
  torch::Device device = unet.parameters().front().device();
  for (auto [dst, src] : {std::pair{&cond_, &cond}, std::pair{&uncond_, &uncond}}) {
    dst->context = src->context.to(device, dtype);
    if (src->y.defined()) dst->y = src->y.to(device, dtype);
  }
  if (cond_.y.defined() != uncond_.y.defined())
    throw Error(Code::kInternal, "CfgDenoiser: cond and uncond disagree on y");
  if (concat.defined()) concat_ = concat.to(device, torch::kFloat32);
  log_sigmas_ = schedule.log_sigmas().to(device, torch::kFloat32);
}

torch::Tensor CfgDenoiser::operator()(const torch::Tensor& x, const torch::Tensor& sigma) const {
  const int64_t n = x.size(0);
  torch::Tensor x_in = CalculateInput(sigma, x);
  if (concat_.defined()) {
    if (concat_.size(0) != n || concat_.size(2) != x.size(2) || concat_.size(3) != x.size(3))
      throw Error(Code::kInternal, "CfgDenoiser: the concat input does not match x");
    x_in = torch::cat({x_in, concat_}, 1);  // [N, C + extra, h, w]
  }
  // ComfyUI: the UNet sees the nearest discrete timestep of sigma (DiscreteSchedule::Timestep,
  // computed where sigma lives: no device-to-host copy inside the step loop).
  torch::Tensor t;
  if (sigma.is_cuda() && sigma.device() == log_sigmas_.device()) {
    torch::Tensor dists =
        sigma.to(torch::kFloat32).log().reshape({1, -1}) - log_sigmas_.reshape({-1, 1});  // [T, n]
    t = dists.abs().argmin(0).to(torch::kFloat32).reshape({-1});
  } else {
    t = schedule_.Timestep(sigma).to(x.device(), torch::kFloat32).reshape({-1});
  }
  if (t.size(0) == 1) t = t.expand({n});
  const bool guided = cfg_scale_ != 1.0;
  torch::Tensor model_in = guided ? torch::cat({x_in, x_in}) : x_in;
  torch::Tensor ts = guided ? torch::cat({t, t}) : t;
  auto both = [&](const torch::Tensor& u, const torch::Tensor& c) {
    std::vector<int64_t> shape(c.dim(), -1);
    shape[0] = n;
    return guided ? torch::cat({u.expand(shape), c.expand(shape)}) : c.expand(shape);
  };
  torch::Tensor context = both(uncond_.context, cond_.context);
  torch::Tensor y = cond_.y.defined() ? both(uncond_.y, cond_.y) : torch::Tensor();
  torch::Tensor out = (runner_ ? (*runner_)(model_in.to(dtype_), ts.to(dtype_), context, y)
                               : unet_.forward(model_in.to(dtype_), ts.to(dtype_), context, y))
                          .to(torch::kFloat32);
  if (!guided) return CalculateDenoised(prediction_, sigma, out, x);
  torch::Tensor x0_uncond = CalculateDenoised(prediction_, sigma, out.slice(0, 0, n), x);
  torch::Tensor x0_cond = CalculateDenoised(prediction_, sigma, out.slice(0, n, 2 * n), x);
  return x0_uncond + (x0_cond - x0_uncond) * cfg_scale_;
}

}  // namespace easel::engine

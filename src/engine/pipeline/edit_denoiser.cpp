// ConcatCfgDenoiser and MaskedDenoiser (see edit_denoiser.h).
#include "engine/pipeline/edit_denoiser.h"

#include <torch/torch.h>

#include <utility>

#include "engine/nets/unet.h"
#include "util/status.h"

namespace easel::engine {

ConcatCfgDenoiser::ConcatCfgDenoiser(UNetImpl& unet, const DiscreteSchedule& schedule,
                                     Prediction prediction, const Conditioning& cond,
                                     const Conditioning& uncond, double cfg_scale,
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
  concat_ = concat.to(device, torch::kFloat32);
}

torch::Tensor ConcatCfgDenoiser::operator()(const torch::Tensor& x,
                                            const torch::Tensor& sigma) const {
  const int64_t n = x.size(0);
  if (concat_.size(0) != n || concat_.size(2) != x.size(2) || concat_.size(3) != x.size(3))
    throw Error(Code::kInternal, "ConcatCfgDenoiser: the concat input does not match x");
  // [N, C + extra, h, w]
  torch::Tensor x_in = torch::cat({CalculateInput(sigma, x), concat_}, 1);
  torch::Tensor t = schedule_.Timestep(sigma).to(x.device(), torch::kFloat32).reshape({-1});
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
  torch::Tensor out =
      unet_.forward(model_in.to(dtype_), ts.to(dtype_), context, y).to(torch::kFloat32);
  if (!guided) return CalculateDenoised(prediction_, sigma, out, x);
  torch::Tensor x0_uncond = CalculateDenoised(prediction_, sigma, out.slice(0, 0, n), x);
  torch::Tensor x0_cond = CalculateDenoised(prediction_, sigma, out.slice(0, n, 2 * n), x);
  return x0_uncond + (x0_cond - x0_uncond) * cfg_scale_;
}

MaskedDenoiser::MaskedDenoiser(DenoiseFn inner, torch::Tensor mask, torch::Tensor init_latent,
                               torch::Tensor noise)
    : inner_(std::move(inner)),
      mask_(std::move(mask)),
      init_(std::move(init_latent)),
      noise_(std::move(noise)) {}

torch::Tensor MaskedDenoiser::operator()(const torch::Tensor& x, const torch::Tensor& sigma) const {
  // sigma: 0-dim or [N] -> broadcast over [N, C, h, w]
  const torch::Tensor s = sigma.dim() == 0 ? sigma : sigma.view({-1, 1, 1, 1});
  const torch::Tensor keep = 1.0 - mask_;
  const torch::Tensor x_in = x * mask_ + (init_ + noise_ * s) * keep;
  return inner_(x_in, sigma) * mask_ + init_ * keep;
}

}  // namespace easel::engine

// MaskedDenoiser (see edit_denoiser.h).
#include "engine/pipeline/edit_denoiser.h"

#include <torch/torch.h>

#include <utility>

namespace easel::engine {

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

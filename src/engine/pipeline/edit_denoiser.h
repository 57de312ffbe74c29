// MaskedDenoiser, the inpainting layer around the samplers' DenoiseFn (9-channel inpainting
// models get their extra input channels from CfgDenoiser's `concat` instead): latent masking at
// every step (ComfyUI's KSamplerX0Inpaint): before the model
//   call the kept region of x is replaced by the init latent noised to this sigma
//   (init + noise * sigma), and after it the kept region of x0 is the init latent, so the
//   sampler only changes the masked region. A1111 blends the x0 only; blending the input too
//   keeps the kept region's noise level consistent with sigma (what the model expects).
//
// All tensors float32; not thread-safe.
#pragma once

#include <torch/types.h>

#include "engine/sample/samplers.h"

namespace easel::engine {

class MaskedDenoiser {
 public:
  // mask [N|1, 1, h, w] in [0, 1] (1 = repaint), init_latent and noise [N, C, h, w], all on
  // x's device.
  MaskedDenoiser(DenoiseFn inner, torch::Tensor mask, torch::Tensor init_latent,
                 torch::Tensor noise);
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& sigma) const;
  DenoiseFn AsFn() const {
    return [this](const torch::Tensor& x, const torch::Tensor& s) { return (*this)(x, s); };
  }

 private:
  DenoiseFn inner_;
  torch::Tensor mask_, init_, noise_;
};

}  // namespace easel::engine

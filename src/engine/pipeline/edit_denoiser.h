// Denoisers for the edit modes, layered around the samplers' DenoiseFn like CfgDenoiser:
//
// ConcatCfgDenoiser: CfgDenoiser for UNets with extra input channels (SD inpainting models:
//   in_channels 9 = the noisy latent ++ mask ++ masked-image latent). The extra channels are
//   appended AFTER the 1/sqrt(sigma^2 + 1) input scaling, unscaled (diffusers'
//   StableDiffusionInpaintPipeline and ComfyUI's concat conditioning do the same). Otherwise
//   CfgDenoiser's math: CFG on denoised predictions, the nearest discrete timestep.
//
// MaskedDenoiser: latent masking at every step (ComfyUI's KSamplerX0Inpaint): before the model
//   call the kept region of x is replaced by the init latent noised to this sigma
//   (init + noise * sigma), and after it the kept region of x0 is the init latent, so the
//   sampler only changes the masked region. A1111 blends the x0 only; blending the input too
//   keeps the kept region's noise level consistent with sigma (what the model expects).
//
// All tensors float32; not thread-safe; both hold references to what they were given.
#pragma once

#include <torch/types.h>

#include "engine/pipeline/conditioning.h"
#include "engine/sample/model_sampling.h"
#include "engine/sample/samplers.h"

namespace easel::engine {

class UNetImpl;

class ConcatCfgDenoiser {
 public:
  // concat: [N, in_channels - C, h, w] appended to every model input (N = the batch sampled).
  ConcatCfgDenoiser(UNetImpl& unet, const DiscreteSchedule& schedule, Prediction prediction,
                    const Conditioning& cond, const Conditioning& uncond, double cfg_scale,
                    torch::ScalarType dtype, const torch::Tensor& concat);
  // x: [N, C, h, w], sigma: 0-dim or [N] -> x0 [N, C, h, w]
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& sigma) const;
  DenoiseFn AsFn() const {
    return [this](const torch::Tensor& x, const torch::Tensor& s) { return (*this)(x, s); };
  }

 private:
  UNetImpl& unet_;
  const DiscreteSchedule& schedule_;
  Prediction prediction_;
  Conditioning cond_, uncond_;
  double cfg_scale_;
  torch::ScalarType dtype_;
  torch::Tensor concat_;
};

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

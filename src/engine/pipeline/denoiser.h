// CfgDenoiser: the model as the samplers see it, DenoiseFn(x, sigma) -> x0, with
// classifier-free guidance as its own layer (ComfyUI's cfg_function):
//   x0 = x0(uncond) + cfg * (x0(cond) - x0(uncond)), computed on denoised predictions.
// One UNet call per step evaluates cond and uncond together as a batch of 2N; with cfg == 1
// the uncond half is skipped (the same result, half the work).
//
// UNets with extra input channels (SD inpainting models: in_channels 9 = noisy latent ++ mask ++
// masked-image latent) get `concat` appended AFTER the 1/sqrt(sigma^2 + 1) input scaling,
// unscaled (diffusers' StableDiffusionInpaintPipeline and ComfyUI's concat conditioning).
//
// x and the returned x0 are float32 (the samplers' precision); the UNet runs in `dtype` on the
// UNet's device. Not thread-safe; holds references to the UNet and schedule it was given.
#pragma once

#include <torch/types.h>

#include "engine/pipeline/conditioning.h"
#include "engine/sample/model_sampling.h"
#include "engine/sample/samplers.h"

namespace easel::engine {

class UNetImpl;
class UNetRunner;

class CfgDenoiser {
 public:
  // cond, uncond: contexts [1, L, D] of equal L (see PadToSameChunkCount) and, for UNets
  // with label_emb (SDXL), y [1, adm]. concat: [N, in_channels - C, h, w] appended to every
  // model input (N = the batch sampled), or undefined.
  CfgDenoiser(UNetImpl& unet, const DiscreteSchedule& schedule, Prediction prediction,
              const Conditioning& cond, const Conditioning& uncond, double cfg_scale,
              torch::ScalarType dtype, const torch::Tensor& concat = {});

  // x: [N, C, h, w] float32, sigma: 0-dim or [N] -> x0: [N, C, h, w] float32.
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& sigma) const;
  // Runs the UNet through `runner` (CUDA graphs) instead of calling it directly; null:
  // direct calls. The runner must wrap this denoiser's UNet and outlive it.
  void UseRunner(UNetRunner* runner) { runner_ = runner; }
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
  // The schedule's log-sigmas on the UNet's device: the step's timestep is found there, so a
  // step never waits for the device (no host copy of sigma).
  torch::Tensor log_sigmas_;
  UNetRunner* runner_ = nullptr;
};

}  // namespace easel::engine

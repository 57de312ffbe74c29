// Building blocks of the LDM AutoencoderKL (ldm/modules/diffusionmodules/model.py layout):
// ResnetBlock, AttnBlock, Downsample, Upsample, each with its checkpoint child names.
// All GroupNorms have 32 groups and eps 1e-6. No time embedding (the VAE has none).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "engine/nets/layers.h"

namespace easel::engine {

// h = conv2(swish(norm2(conv1(swish(norm1 x))))); out = nin_shortcut(x) + h
// (nin_shortcut: 1x1 conv, only when in != out channels). x: [N, Cin, H, W] -> [N, Cout, H, W]
class VaeResnetBlockImpl : public torch::nn::Module {
 public:
  VaeResnetBlockImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  layers::Conv2d conv1_{nullptr}, conv2_{nullptr};
  layers::Conv2d nin_shortcut_{nullptr};  // null: identity
};
TORCH_MODULE(VaeResnetBlock);

// Single-head self-attention over the H*W positions with 1x1-conv q, k, v, proj_out (weights
// [C, C, 1, 1]; files holding Linear-shaped [C, C] ones go through NormalizeVaeAttention in
// vae.h first), plus the residual. x: [N, C, H, W] -> [N, C, H, W]
class VaeAttnBlockImpl : public torch::nn::Module {
 public:
  explicit VaeAttnBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm norm_{nullptr};
  layers::Conv2d q_{nullptr}, k_{nullptr}, v_{nullptr}, proj_out_{nullptr};
};
TORCH_MODULE(VaeAttnBlock);

// Zero-pad right and bottom by one, then a stride-2 3x3 conv without padding ("conv").
// x: [N, C, H, W] -> [N, C, floor((H-2)/2)+1, ...] = [N, C, H/2, W/2] for even H, W
class VaeDownsampleImpl : public torch::nn::Module {
 public:
  explicit VaeDownsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  layers::Conv2d conv_{nullptr};
};
TORCH_MODULE(VaeDownsample);

// Nearest 2x then 3x3 conv ("conv"). x: [N, C, H, W] -> [N, C, 2H, 2W]
class VaeUpsampleImpl : public torch::nn::Module {
 public:
  explicit VaeUpsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  layers::Conv2d conv_{nullptr};
};
TORCH_MODULE(VaeUpsample);

}  // namespace easel::engine

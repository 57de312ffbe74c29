// The convolutional building blocks of the LDM UNet (ldm/modules/diffusionmodules/openaimodel.py
// layout): timestep embedding, ResBlock, Downsample, Upsample. Each child is registered under
// its checkpoint name (in_layers.0, emb_layers.1, op, conv ...) so weights load name for name.
// The transformer blocks are in blocks_transformer.h; the VAE's own blocks in vae_blocks.h.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "engine/nets/layers.h"

namespace easel::engine {

// Sinusoidal timestep features as in LDM (and diffusers with flip_sin_to_cos=True,
// freq_shift=0): [cos(t * f_i), sin(t * f_i)], f_i = max_period^(-i / (dim/2)).
// timesteps: [N] (any float or int dtype) -> [N, dim] float32. dim must be even.
torch::Tensor TimestepEmbedding(const torch::Tensor& timesteps, int64_t dim,
                                double max_period = 10000.0);

// GroupNorm with the 32 groups every SD network uses.
torch::nn::GroupNorm GroupNorm32(int64_t channels, double eps);

// Residual block conditioned on the time embedding (no scale-shift norm, as in SD):
// h = in_layers(x) + emb_layers(emb); out = skip_connection(x) + out_layers(h).
// Names: in_layers.{0: GroupNorm, 2: conv3x3}, emb_layers.1 (Linear), out_layers.{0: GroupNorm,
// 3: conv3x3}, skip_connection (conv1x1, only when in != out channels).
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in_channels, int64_t emb_channels, int64_t out_channels);
  // x: [N, Cin, H, W], emb: [N, E] -> [N, Cout, H, W]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);

 private:
  torch::nn::Sequential in_layers_{nullptr};
  torch::nn::Sequential emb_layers_{nullptr};
  torch::nn::Sequential out_layers_{nullptr};
  layers::Conv2d skip_connection_{nullptr};  // null: identity
};
TORCH_MODULE(ResBlock);

// Stride-2 3x3 conv, padding 1 ("op"). x: [N, C, H, W] -> [N, C, ceil(H/2), ceil(W/2)]
class DownsampleImpl : public torch::nn::Module {
 public:
  explicit DownsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  layers::Conv2d op_{nullptr};
};
TORCH_MODULE(Downsample);

// Nearest-neighbour resize then 3x3 conv ("conv").
// x: [N, C, H, W] -> [N, C, size] where size is the skip connection's [H', W'] (2H x 2W when
// the latent divides evenly; odd latents need the exact size, as diffusers' upsample_size).
// An empty size means 2H x 2W.
class UpsampleImpl : public torch::nn::Module {
 public:
  explicit UpsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x, torch::IntArrayRef size = {});

 private:
  layers::Conv2d conv_{nullptr};
};
TORCH_MODULE(Upsample);

}  // namespace easel::engine

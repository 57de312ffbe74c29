// Fused operations of the diffusion nets, run by Easel's CUDA kernels (src/engine/cuda/) where
// the build has them and the tensors suit them, else by the equivalent ATen ops (the CPU, CPU
// builds, NCHW tensors, EASEL_FUSED_KERNELS=0).
//
// GroupNormAct: the ATen path on a channels-last CUDA tensor copies to NCHW for the norm and
// back for the next convolution, and applies SiLU as a separate pass; the kernel reads the
// NHWC tensor once for the statistics and once for the output, which it writes channels-last.
// GegluAct: chunk + gelu + mul is three passes over [.., 4 * dim]; the kernel is one.
// Bias folding: ATen adds a convolution's bias in a pass of its own after cuDNN; on the fused
// path the nets run such convolutions (and the linears before a residual) without their bias
// and add it inside the next op (GroupNormAct's `add`, GegluAct's bias, ResidualAdd).
#pragma once

#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include <vector>

#include "engine/nets/layers.h"

namespace easel::engine {

// Whether this build has Easel's CUDA kernels (a CUDA build with EASEL_WITH_CUDA_KERNELS).
bool FusedKernelsBuilt();
// FusedKernelsBuilt() and not switched off by the environment (EASEL_FUSED_KERNELS=0, for
// A/B timing and for ruling the kernels out when chasing a difference).
bool FusedKernelsEnabled();

// Whether x takes the fused path: a CUDA tensor, with FusedKernelsEnabled(). Nets fold biases
// only then (on the CPU a convolution adds its bias for free).
bool UseFusedPath(const torch::Tensor& x);

// The layer without its bias (the caller adds it later).
torch::Tensor ConvNoBias(const layers::Conv2dImpl& conv, const torch::Tensor& x);
torch::Tensor LinearNoBias(const layers::LinearImpl& linear, const torch::Tensor& x);

// x + h (+ bias over the channels: dim 1 of a 4-D tensor, else the last dim). One pass when
// both are channels-last images or contiguous token tensors on the fused path.
torch::Tensor ResidualAdd(const torch::Tensor& x, const torch::Tensor& h,
                          const torch::Tensor& bias = {});

// Nearest-neighbour resize of x: [N, C, H, W] to `size` ({H2, W2}), as F::interpolate does; one
// vectorised pass for an exact 2x of a channels-last CUDA tensor on the fused path.
torch::Tensor UpsampleNearest(const torch::Tensor& x, const std::vector<int64_t>& size);

// The end of a ResNet block with its biases folded: skip(x) + h + h_bias, where skip is the
// block's shortcut convolution (run without its bias, which joins h_bias) or, when null, the
// identity. One pass on the fused path.
torch::Tensor AddShortcut(const torch::Tensor& x, const layers::Conv2dImpl* skip,
                          const torch::Tensor& h, const torch::Tensor& h_bias);

// act(norm(x + add)) with act = SiLU when `silu`, the identity otherwise.
// x: [N, C, H, W]; add: [N, C] (added to every pixel before normalising) or undefined.
torch::Tensor GroupNormAct(const torch::Tensor& x, const torch::nn::GroupNormImpl& norm, bool silu,
                           const torch::Tensor& add = {});

// h: [..., 2 * inner], u = h + bias (bias: [2 * inner] or undefined) ->
// u[..., :inner] * gelu(u[..., inner:]) (exact erf GELU): [..., inner].
torch::Tensor GegluAct(const torch::Tensor& h, const torch::Tensor& bias = {});

}  // namespace easel::engine

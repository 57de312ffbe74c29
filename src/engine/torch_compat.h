// Version switches between the libtorch releases Easel builds against: Debian's 1.13 (CPU
// builds) and CUDA LibTorch 2.x (GPU builds). Each function has one meaning and, where the
// releases differ, two implementations chosen at compile time. Add new switches here so the
// rest of the engine never tests TORCH_VERSION_* itself.
#pragma once

#include <torch/types.h>
#include <torch/version.h>

#include <cmath>

namespace easel::engine {

// softmax(q k^T / sqrt(D)) v, no mask, no dropout.
// q: [N, H, Lq, D], k: [N, H, Lk, D], v: [N, H, Lk, Dv] -> [N, H, Lq, Dv].
// 2.x: at::scaled_dot_product_attention (fused flash / memory-efficient kernels on CUDA).
// 1.13: the explicit formula; it materialises the [N, H, Lq, Lk] weights.
inline torch::Tensor ScaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k,
                                               const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor weights = torch::matmul(q * scale, k.transpose(-2, -1));  // [N, H, Lq, Lk]
  return torch::matmul(weights.softmax(-1), v);
#endif
}

// Whether ScaledDotProductAttention holds the whole [N, H, Lq, Lk] weight tensor at once (so
// its memory grows with Lq * Lk): true for 1.13's explicit formula; false for 2.x, whose fused
// kernels work block by block. Used by memory estimates (vae_tiled.h).
constexpr bool SdpaMaterializesWeights() {
#if TORCH_VERSION_MAJOR >= 2
  return false;
#else
  return true;
#endif
}

}  // namespace easel::engine

// The attention half of the LDM UNet (ldm/modules/attention.py layout): multi-head
// (cross-)attention, the GEGLU feed-forward, BasicTransformerBlock and SpatialTransformer.
// Children carry the checkpoint names (to_q, to_out.0, ff.net.0.proj, norm1 ...), which are the
// same in LDM and diffusers files.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "engine/nets/layers.h"

namespace easel::engine {

// Multi-head attention; q from x, k and v from context (self-attention when context is
// undefined). to_q/to_k/to_v have no bias, to_out.0 has one.
// x: [N, L, query_dim], context: [N, M, context_dim] -> [N, L, query_dim]
class CrossAttentionImpl : public torch::nn::Module {
 public:
  CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t dim_head);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});
  // forward() without to_out.0's bias (folded into the caller's residual add), and that bias.
  torch::Tensor ForwardNoOutBias(const torch::Tensor& x, const torch::Tensor& context = {});
  const torch::Tensor& out_bias() const;

 private:
  // Attention up to to_out: [N, L, inner].
  torch::Tensor Attend(const torch::Tensor& x, const torch::Tensor& context);
  int64_t heads_;
  layers::Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr};
  torch::nn::Sequential to_out_{nullptr};  // 0: Linear, 1: Dropout
};
TORCH_MODULE(CrossAttention);

// proj (Linear dim -> 2 inner), then value * gelu(gate) with the exact (erf) GELU.
// x: [N, L, dim] -> [N, L, inner]
class GegluImpl : public torch::nn::Module {
 public:
  GegluImpl(int64_t dim, int64_t inner);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  layers::Linear proj_{nullptr};
};
TORCH_MODULE(Geglu);

// x + attn1(norm1 x); x + attn2(norm2 x, context); x + ff(norm3 x), ff = net.{0: GEGLU,
// 1: Dropout, 2: Linear} with inner dim 4 * dim. x: [N, L, dim] -> [N, L, dim]
class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head, int64_t context_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  CrossAttention attn1_{nullptr}, attn2_{nullptr};
  torch::nn::Sequential ff_net_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

// Image-to-tokens transformer with a residual around it:
// norm (GroupNorm 32, eps 1e-6) -> proj_in -> depth x BasicTransformerBlock -> proj_out, + x.
// proj_in/proj_out are 1x1 convs (SD1) or Linear layers applied on tokens (SD2, SDXL:
// use_linear). x: [N, C, H, W], context: [N, M, context_dim] -> [N, C, H, W]
class SpatialTransformerImpl : public torch::nn::Module {
 public:
  SpatialTransformerImpl(int64_t channels, int64_t heads, int64_t dim_head, int64_t depth,
                         int64_t context_dim, bool use_linear);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  bool use_linear_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::AnyModule proj_in_, proj_out_;  // Conv2d or Linear
  torch::nn::ModuleList transformer_blocks_{nullptr};
  std::vector<BasicTransformerBlock> blocks_;  // the same modules, typed
};
TORCH_MODULE(SpatialTransformer);

}  // namespace easel::engine

// LDM UNet attention blocks: see blocks_transformer.h.
#include "engine/nets/blocks_transformer.h"

#include <torch/torch.h>

#include "engine/nets/blocks.h"
#include "engine/nets/fused_ops.h"
#include "engine/torch_compat.h"

namespace easel::engine {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

CrossAttentionImpl::CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads,
                                       int64_t dim_head)
    : heads_(heads) {
  const int64_t inner = heads * dim_head;
  to_q_ = register_module("to_q", layers::Linear(nn::LinearOptions(query_dim, inner).bias(false)));
  to_k_ =
      register_module("to_k", layers::Linear(nn::LinearOptions(context_dim, inner).bias(false)));
  to_v_ =
      register_module("to_v", layers::Linear(nn::LinearOptions(context_dim, inner).bias(false)));
  to_out_ =
      register_module("to_out", nn::Sequential(layers::Linear(inner, query_dim), nn::Dropout(0.0)));
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  return to_out_->forward(Attend(x, context));
}

torch::Tensor CrossAttentionImpl::ForwardNoOutBias(const torch::Tensor& x,
                                                   const torch::Tensor& context) {
  return LinearNoBias(*to_out_->ptr<layers::LinearImpl>(0), Attend(x, context));
}

const torch::Tensor& CrossAttentionImpl::out_bias() const {
  return to_out_->ptr<layers::LinearImpl>(0)->bias;
}

torch::Tensor CrossAttentionImpl::Attend(const torch::Tensor& x, const torch::Tensor& context) {
  const torch::Tensor& ctx = context.defined() ? context : x;
  const int64_t n = x.size(0);
  // [N, L, inner] -> [N, heads, L, dim_head]
  auto split = [&](const torch::Tensor& t) {
    return t.view({n, t.size(1), heads_, -1}).transpose(1, 2);
  };
  torch::Tensor q = split(to_q_->forward(x));
  torch::Tensor k = split(to_k_->forward(ctx));
  torch::Tensor v = split(to_v_->forward(ctx));
  torch::Tensor out = ScaledDotProductAttention(q, k, v);  // [N, heads, L, dim_head]
  return out.transpose(1, 2).reshape({n, x.size(1), -1});  // [N, L, inner]
}

GegluImpl::GegluImpl(int64_t dim, int64_t inner) {
  proj_ = register_module("proj", layers::Linear(dim, inner * 2));
}

torch::Tensor GegluImpl::forward(const torch::Tensor& x) {
  // Fused path: the projection's bias is added inside the GEGLU kernel.
  if (UseFusedPath(x)) return GegluAct(LinearNoBias(*proj_, x), proj_->bias);
  return GegluAct(proj_->forward(x));
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head,
                                                     int64_t context_dim) {
  attn1_ = register_module("attn1", CrossAttention(dim, dim, heads, dim_head));
  const int64_t inner = dim * 4;
  auto ff = register_module("ff", std::make_shared<nn::Module>());
  ff_net_ = ff->register_module(
      "net", nn::Sequential(Geglu(dim, inner), nn::Dropout(0.0), layers::Linear(inner, dim)));
  attn2_ = register_module("attn2", CrossAttention(dim, context_dim, heads, dim_head));
  auto layer_norm = [&](const char* name) {
    return register_module(name, nn::LayerNorm(nn::LayerNormOptions({dim})));
  };
  norm1_ = layer_norm("norm1");
  norm2_ = layer_norm("norm2");
  norm3_ = layer_norm("norm3");
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x,
                                                 const torch::Tensor& context) {
  if (!UseFusedPath(x)) {
    torch::Tensor h = x + attn1_->forward(norm1_->forward(x));
    h = h + attn2_->forward(norm2_->forward(h), context);
    return h + ff_net_->forward(norm3_->forward(h));
  }
  // The output projections' biases folded into the residual adds.
  torch::Tensor h =
      ResidualAdd(x, attn1_->ForwardNoOutBias(norm1_->forward(x)), attn1_->out_bias());
  h = ResidualAdd(h, attn2_->ForwardNoOutBias(norm2_->forward(h), context), attn2_->out_bias());
  const auto& out = *ff_net_->ptr<layers::LinearImpl>(2);  // ff.net: 0 GEGLU, 1 Dropout, 2 Linear
  torch::Tensor g = ff_net_->ptr<GegluImpl>(0)->forward(norm3_->forward(h));
  return ResidualAdd(h, LinearNoBias(out, g), out.bias);
}

SpatialTransformerImpl::SpatialTransformerImpl(int64_t channels, int64_t heads, int64_t dim_head,
                                               int64_t depth, int64_t context_dim, bool use_linear)
    : use_linear_(use_linear) {
  const int64_t inner = heads * dim_head;
  norm_ = register_module("norm", GroupNorm32(channels, 1e-6));
  if (use_linear) {
    proj_in_ = nn::AnyModule(register_module("proj_in", layers::Linear(channels, inner)));
  } else {
    proj_in_ = nn::AnyModule(
        register_module("proj_in", layers::Conv2d(nn::Conv2dOptions(channels, inner, 1))));
  }
  transformer_blocks_ = register_module("transformer_blocks", nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    blocks_.emplace_back(inner, heads, dim_head, context_dim);
    transformer_blocks_->push_back(blocks_.back());
  }
  if (use_linear) {
    proj_out_ = nn::AnyModule(register_module("proj_out", layers::Linear(inner, channels)));
  } else {
    proj_out_ = nn::AnyModule(
        register_module("proj_out", layers::Conv2d(nn::Conv2dOptions(inner, channels, 1))));
  }
}

torch::Tensor SpatialTransformerImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& context) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  // [N, C, H, W] -> [N, H*W, C]
  auto to_tokens = [](const torch::Tensor& t) { return t.flatten(2).transpose(1, 2); };
  // [N, H*W, C] -> [N, C, H, W]
  auto to_image = [&](const torch::Tensor& t) {
    return t.transpose(1, 2).reshape({n, t.size(2), h, w});
  };
  torch::Tensor t = GroupNormAct(x, *norm_, /*silu=*/false);
  t = use_linear_ ? proj_in_.forward(to_tokens(t)) : to_tokens(proj_in_.forward(t));
  for (auto& block : blocks_) t = block->forward(t, context);
  if (!UseFusedPath(x)) {
    t = use_linear_ ? to_image(proj_out_.forward(t)) : proj_out_.forward(to_image(t));
    return t + x;
  }
  // proj_out's bias folded into the residual add.
  if (use_linear_) {
    const auto& proj = *proj_out_.ptr<layers::LinearImpl>();
    return ResidualAdd(x, to_image(LinearNoBias(proj, t)), proj.bias);
  }
  const auto& proj = *proj_out_.ptr<layers::Conv2dImpl>();
  return ResidualAdd(x, ConvNoBias(proj, to_image(t)), proj.bias);
}

}  // namespace easel::engine

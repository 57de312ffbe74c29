// LDM AutoencoderKL blocks: see vae_blocks.h.
#include "engine/nets/vae_blocks.h"

#include <torch/torch.h>

#include <algorithm>

#include "engine/nets/blocks.h"
#include "engine/nets/fused_ops.h"
#include "engine/torch_compat.h"

namespace easel::engine {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {
constexpr double kEps = 1e-6;
layers::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t pad = 0) {
  return layers::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(pad));
}
}  // namespace

VaeResnetBlockImpl::VaeResnetBlockImpl(int64_t in_channels, int64_t out_channels) {
  norm1_ = register_module("norm1", GroupNorm32(in_channels, kEps));
  conv1_ = register_module("conv1", Conv(in_channels, out_channels, 3, 1, 1));
  norm2_ = register_module("norm2", GroupNorm32(out_channels, kEps));
  conv2_ = register_module("conv2", Conv(out_channels, out_channels, 3, 1, 1));
  if (in_channels != out_channels) {
    nin_shortcut_ = register_module("nin_shortcut", Conv(in_channels, out_channels, 1));
  }
}

torch::Tensor VaeResnetBlockImpl::forward(const torch::Tensor& x) {
  if (!UseFusedPath(x)) {
    torch::Tensor h = conv1_->forward(GroupNormAct(x, *norm1_, /*silu=*/true));
    h = conv2_->forward(GroupNormAct(h, *norm2_, /*silu=*/true));
    return (nin_shortcut_ ? nin_shortcut_->forward(x) : x) + h;
  }
  // Biases folded: conv1's into the second norm's add, conv2's and the shortcut's into the
  // residual add.
  torch::Tensor h = ConvNoBias(*conv1_, GroupNormAct(x, *norm1_, /*silu=*/true));
  torch::Tensor add;
  if (conv1_->bias.defined()) add = conv1_->bias.unsqueeze(0).expand({h.size(0), -1}).contiguous();
  h = ConvNoBias(*conv2_, GroupNormAct(h, *norm2_, /*silu=*/true, add));
  return AddShortcut(x, nin_shortcut_ ? nin_shortcut_.get() : nullptr, h, conv2_->bias);
}

VaeAttnBlockImpl::VaeAttnBlockImpl(int64_t channels) {
  norm_ = register_module("norm", GroupNorm32(channels, kEps));
  q_ = register_module("q", Conv(channels, channels, 1));
  k_ = register_module("k", Conv(channels, channels, 1));
  v_ = register_module("v", Conv(channels, channels, 1));
  proj_out_ = register_module("proj_out", Conv(channels, channels, 1));
}

torch::Tensor VaeAttnBlockImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor t = GroupNormAct(x, *norm_, /*silu=*/false);
  // [N, C, H, W] -> [N, 1, H*W, C]: one head of width C
  auto tokens = [&](const torch::Tensor& m) { return m.flatten(2).transpose(1, 2).unsqueeze(1); };
  const torch::Tensor q = tokens(q_->forward(t)), k = tokens(k_->forward(t)),
                      v = tokens(v_->forward(t));
  // SDPA has no fused kernel for a head of 512 channels, so its weights [N, 1, L, L] are
  // materialised (32 GiB in fp16 for a 2048^2 image's 65536 tokens): over kMaxWeightBytes,
  // the queries go in chunks (every query row's softmax is independent, so the result is the
  // same). Smaller images (512^2: 4096 tokens, 32 MiB) take the single call.
  constexpr int64_t kMaxWeightBytes = int64_t{256} << 20;
  const int64_t tokens_n = h * w;
  const int64_t row_bytes = n * tokens_n * static_cast<int64_t>(q.element_size());
  torch::Tensor out;  // [N, 1, H*W, C]
  if (row_bytes * tokens_n <= kMaxWeightBytes) {
    out = ScaledDotProductAttention(q, k, v);
  } else {
    const int64_t chunk = std::max<int64_t>(1, kMaxWeightBytes / row_bytes);
    out = torch::empty_like(q, torch::MemoryFormat::Contiguous);
    for (int64_t i = 0; i < tokens_n; i += chunk) {
      const int64_t i1 = std::min(tokens_n, i + chunk);
      out.slice(2, i, i1).copy_(ScaledDotProductAttention(q.slice(2, i, i1), k, v));
    }
  }
  out = out.squeeze(1).transpose(1, 2).reshape({n, c, h, w});
  if (!UseFusedPath(x)) return x + proj_out_->forward(out);
  return ResidualAdd(x, ConvNoBias(*proj_out_, out), proj_out_->bias);
}

VaeDownsampleImpl::VaeDownsampleImpl(int64_t channels) {
  conv_ = register_module("conv", Conv(channels, channels, 3, /*stride=*/2));
}

torch::Tensor VaeDownsampleImpl::forward(const torch::Tensor& x) {
  // (left, right, top, bottom) = (0, 1, 0, 1): the asymmetric padding LDM trained with.
  return conv_->forward(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
}

VaeUpsampleImpl::VaeUpsampleImpl(int64_t channels) {
  conv_ = register_module("conv", Conv(channels, channels, 3, 1, 1));
}

torch::Tensor VaeUpsampleImpl::forward(const torch::Tensor& x) {
  return conv_->forward(UpsampleNearest(x, {x.size(2) * 2, x.size(3) * 2}));
}

}  // namespace easel::engine

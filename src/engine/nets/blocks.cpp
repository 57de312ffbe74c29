// LDM UNet convolutional blocks: see blocks.h.
#include "engine/nets/blocks.h"

#include <torch/torch.h>

#include <cmath>

#include "engine/nets/fused_ops.h"

namespace easel::engine {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

torch::Tensor TimestepEmbedding(const torch::Tensor& timesteps, int64_t dim, double max_period) {
  TORCH_CHECK(timesteps.dim() == 1, "timesteps must be [N], got ", timesteps.sizes());
  TORCH_CHECK(dim % 2 == 0, "timestep embedding dim must be even, got ", dim);
  const int64_t half = dim / 2;
  // Same op order as the references (exponent in float32, then exp) so the features agree
  // to the last bit or two.
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device());
  torch::Tensor exponent = torch::arange(0, half, opts) * (-std::log(max_period));
  torch::Tensor freqs = torch::exp(exponent / static_cast<double>(half));  // [half]
  torch::Tensor args = timesteps.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({torch::cos(args), torch::sin(args)}, /*dim=*/1);  // [N, dim]
}

nn::GroupNorm GroupNorm32(int64_t channels, double eps) {
  return nn::GroupNorm(nn::GroupNormOptions(/*num_groups=*/32, channels).eps(eps));
}

namespace {
layers::Conv2d Conv3x3(int64_t in, int64_t out) {
  return layers::Conv2d(nn::Conv2dOptions(in, out, /*kernel_size=*/3).padding(1));
}
}  // namespace

ResBlockImpl::ResBlockImpl(int64_t in_channels, int64_t emb_channels, int64_t out_channels) {
  in_layers_ =
      register_module("in_layers", nn::Sequential(GroupNorm32(in_channels, 1e-5), nn::SiLU(),
                                                  Conv3x3(in_channels, out_channels)));
  emb_layers_ = register_module(
      "emb_layers", nn::Sequential(nn::SiLU(), layers::Linear(emb_channels, out_channels)));
  out_layers_ = register_module(
      "out_layers", nn::Sequential(GroupNorm32(out_channels, 1e-5), nn::SiLU(), nn::Dropout(0.0),
                                   Conv3x3(out_channels, out_channels)));
  if (in_channels != out_channels) {
    skip_connection_ = register_module(
        "skip_connection", layers::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 1)));
  }
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  // in_layers: 0 GroupNorm, 1 SiLU, 2 conv; out_layers: 0 GroupNorm, 1 SiLU, 2 Dropout(0),
  // 3 conv. Norm and SiLU run fused (fused_ops.h), the embedding added inside the second norm.
  const auto& norm1 = *in_layers_->ptr<torch::nn::GroupNormImpl>(0);
  const auto& conv1 = *in_layers_->ptr<layers::Conv2dImpl>(2);
  const auto& norm2 = *out_layers_->ptr<torch::nn::GroupNormImpl>(0);
  const auto& conv2 = *out_layers_->ptr<layers::Conv2dImpl>(3);
  const torch::Tensor e = emb_layers_->forward(emb);  // [N, Cout]
  if (!UseFusedPath(x)) {
    torch::Tensor h = in_layers_->begin()[2].forward(GroupNormAct(x, norm1, /*silu=*/true));
    h = out_layers_->begin()[3].forward(GroupNormAct(h, norm2, /*silu=*/true, e));
    return ResidualAdd(skip_connection_ ? skip_connection_->forward(x) : x, h);
  }
  // The convolutions' biases folded: conv1's into the second norm's add, conv2's and the skip
  // convolution's into the residual add.
  torch::Tensor h = ConvNoBias(conv1, GroupNormAct(x, norm1, /*silu=*/true));  // [N, Cout, H, W]
  h = ConvNoBias(conv2,
                 GroupNormAct(h, norm2, /*silu=*/true, conv1.bias.defined() ? e + conv1.bias : e));
  return AddShortcut(x, skip_connection_ ? skip_connection_.get() : nullptr, h, conv2.bias);
}

DownsampleImpl::DownsampleImpl(int64_t channels) {
  op_ = register_module(
      "op", layers::Conv2d(nn::Conv2dOptions(channels, channels, 3).stride(2).padding(1)));
}

torch::Tensor DownsampleImpl::forward(const torch::Tensor& x) {
  return op_->forward(x);
}

UpsampleImpl::UpsampleImpl(int64_t channels) {
  conv_ = register_module("conv", Conv3x3(channels, channels));
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x, torch::IntArrayRef size) {
  std::vector<int64_t> out_size = size.vec();
  if (out_size.empty()) out_size = {x.size(2) * 2, x.size(3) * 2};
  return conv_->forward(UpsampleNearest(x, out_size));
}

}  // namespace easel::engine

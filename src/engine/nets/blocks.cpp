// LDM UNet convolutional blocks: see blocks.h.
#include "engine/nets/blocks.h"

#include <torch/torch.h>

#include <cmath>

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
nn::Conv2d Conv3x3(int64_t in, int64_t out) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, /*kernel_size=*/3).padding(1));
}
}  // namespace

ResBlockImpl::ResBlockImpl(int64_t in_channels, int64_t emb_channels, int64_t out_channels) {
  in_layers_ =
      register_module("in_layers", nn::Sequential(GroupNorm32(in_channels, 1e-5), nn::SiLU(),
                                                  Conv3x3(in_channels, out_channels)));
  emb_layers_ = register_module("emb_layers",
                                nn::Sequential(nn::SiLU(), nn::Linear(emb_channels, out_channels)));
  out_layers_ = register_module(
      "out_layers", nn::Sequential(GroupNorm32(out_channels, 1e-5), nn::SiLU(), nn::Dropout(0.0),
                                   Conv3x3(out_channels, out_channels)));
  if (in_channels != out_channels) {
    skip_connection_ = register_module("skip_connection",
                                       nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 1)));
  }
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  torch::Tensor h = in_layers_->forward(x);                       // [N, Cout, H, W]
  h = h + emb_layers_->forward(emb).unsqueeze(-1).unsqueeze(-1);  // + [N, Cout, 1, 1]
  h = out_layers_->forward(h);
  return (skip_connection_ ? skip_connection_->forward(x) : x) + h;
}

DownsampleImpl::DownsampleImpl(int64_t channels) {
  op_ = register_module("op",
                        nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).stride(2).padding(1)));
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
  torch::Tensor h =
      F::interpolate(x, F::InterpolateFuncOptions().size(out_size).mode(torch::kNearest));
  return conv_->forward(h);
}

}  // namespace easel::engine

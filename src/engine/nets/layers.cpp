// Checkpoint-loaded layers without random initialisation: see layers.h.
#include "engine/nets/layers.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace easel::engine::layers {

namespace F = torch::nn::functional;

namespace {

// An uninitialised float32 CPU tensor: nothing is written, so the pages of a large one are
// not even touched until the loader replaces it (weights.h: LoadIntoModule).
torch::Tensor Uninitialised(torch::IntArrayRef shape) {
  return torch::empty(shape, torch::TensorOptions().dtype(torch::kFloat32));
}

// U(-bound, bound) with bound = 1/sqrt(fan_in): torch's kaiming_uniform_(a = sqrt(5)) for
// weights and its bias rule give the same bound.
void UniformFanIn(torch::Tensor& t, int64_t fan_in) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  torch::NoGradGuard no_grad;
  t.uniform_(-bound, bound);
}

}  // namespace

LinearImpl::LinearImpl(const torch::nn::LinearOptions& options_) : options(options_) {
  weight =
      register_parameter("weight", Uninitialised({options.out_features(), options.in_features()}));
  if (options.bias()) bias = register_parameter("bias", Uninitialised({options.out_features()}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  return F::linear(x, weight, bias);
}

void LinearImpl::reset_parameters() {
  UniformFanIn(weight, options.in_features());
  if (bias.defined()) UniformFanIn(bias, options.in_features());
}

Conv2dImpl::Conv2dImpl(const torch::nn::Conv2dOptions& options_) : options(options_) {
  // get_enum_name: the variant type is c10::variant in libtorch 1.13, std::variant in 2.x.
  TORCH_CHECK(torch::enumtype::get_enum_name(options.padding_mode()) == "kZeros",
              "easel layers::Conv2d supports zero padding only");
  TORCH_CHECK(options.groups() > 0 && options.in_channels() % options.groups() == 0 &&
                  options.out_channels() % options.groups() == 0,
              "easel layers::Conv2d: channels must divide into groups");
  const auto& k = options.kernel_size();
  weight = register_parameter(
      "weight", Uninitialised({options.out_channels(), options.in_channels() / options.groups(),
                               (*k)[0], (*k)[1]}));
  if (options.bias()) bias = register_parameter("bias", Uninitialised({options.out_channels()}));
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  return F::conv2d(x, weight,
                   F::Conv2dFuncOptions()
                       .bias(bias)
                       .stride(options.stride())
                       .padding(options.padding())
                       .dilation(options.dilation())
                       .groups(options.groups()));
}

void Conv2dImpl::reset_parameters() {
  const int64_t fan_in = weight.numel() / std::max<int64_t>(weight.size(0), 1);
  UniformFanIn(weight, fan_in);
  if (bias.defined()) UniformFanIn(bias, fan_in);
}

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim) : options(count, dim) {
  weight = register_parameter("weight", Uninitialised({count, dim}));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(weight, ids);
}

void EmbeddingImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 1.0);
}

void InitLikeTorch(torch::nn::Module& module) {
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* linear = dynamic_cast<LinearImpl*>(m.get())) linear->reset_parameters();
    if (auto* conv = dynamic_cast<Conv2dImpl*>(m.get())) conv->reset_parameters();
    if (auto* embedding = dynamic_cast<EmbeddingImpl*>(m.get())) embedding->reset_parameters();
  }
}

}  // namespace easel::engine::layers

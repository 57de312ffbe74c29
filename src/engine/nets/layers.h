// Linear, Conv2d and Embedding layers for networks whose weights come from a checkpoint.
//
// They compute exactly what torch::nn::Linear / Conv2d / Embedding compute (F::linear,
// F::conv2d with zero padding, torch::embedding) and register the same parameter names
// (`weight`, `bias`), but their constructors allocate the parameters uninitialised: torch's
// layers fill every weight with random numbers (kaiming_uniform / normal in float32 on the
// CPU), which for SD1.5's 860M parameters costs seconds only to be overwritten by
// LoadIntoModule. A network built from these layers must therefore be loaded (or given
// InitLikeTorch) before it is run: its parameter values are whatever the allocator returned.
//
// Public members mirror torch's layers (`options`, `weight`, `bias`) so code written for
// torch::nn::Linear / Conv2d reads them the same way. Not thread-safe (like any module).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/options/conv.h>
#include <torch/nn/options/embedding.h>
#include <torch/nn/options/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace easel::engine::layers {

// y = x W^T + b. x: [..., in] -> [..., out]; weight [out, in], bias [out] (unless bias(false)).
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(torch::nn::LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const torch::nn::LinearOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  // torch::nn::Linear's initial values: weight and bias U(-1/sqrt(in), 1/sqrt(in)).
  void reset_parameters();

  torch::nn::LinearOptions options;
  torch::Tensor weight, bias;  // bias undefined without one
};
TORCH_MODULE(Linear);

// 2-D convolution with zero padding (the only padding mode SD networks use; others are
// refused by the constructor). x: [N, in, H, W] -> [N, out, H', W'];
// weight [out, in / groups, kh, kw], bias [out] (unless bias(false)).
class Conv2dImpl : public torch::nn::Module {
 public:
  explicit Conv2dImpl(const torch::nn::Conv2dOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  // torch::nn::Conv2d's initial values: U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  // fan_in = in / groups * kh * kw.
  void reset_parameters();

  torch::nn::Conv2dOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(Conv2d);

// Table lookup. ids: [...] int64 -> [..., dim]; weight [count, dim]. Only the plain lookup
// (no padding_idx, max_norm or sparse gradients: SD's text encoders use none).
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids);
  // torch::nn::Embedding's initial values: N(0, 1).
  void reset_parameters();

  torch::nn::EmbeddingOptions options;
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// Gives every layers:: layer in `module` (recursively) the initial values torch's own layer
// would have (its reset_parameters()), drawn from torch's default generator, so a network can
// be run without a checkpoint (tests, benchmarks on random weights). Parameters keep their
// device and dtype. Other modules (GroupNorm, LayerNorm ...) are left as they are.
void InitLikeTorch(torch::nn::Module& module);

}  // namespace easel::engine::layers

// Seeded Gaussian noise: the starting latent noise of a generation and the per-step noise
// of the stochastic samplers.
//
// Both draw from torch's CPU generator (mt19937 + Box-Muller, as torch.randn) in float32, so
// a seed gives the same numbers here, in PyTorch and in ComfyUI on every device: noise is
// made on the CPU and then moved. Seeds are uint64; note that torch's CPU generator uses only
// the low 32 bits of the seed (seed and seed + 2^32 give the same noise, as in PyTorch).
//
// Not here: the Brownian-tree noise ComfyUI uses for its SDE samplers (see samplers.h).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace easel::engine {

// ComfyUI's prepare_noise for one image: torch.manual_seed(seed); torch.randn([1, C, H, W])
// on the CPU in float32. Returns [1, C, H, W] float32 on the CPU.
torch::Tensor InitialNoise(uint64_t seed, int channels, int height, int width);

// A1111-style batch noise: image i gets InitialNoise(seed + i, ...), so image i of a batch
// equals the single image generated with seed + i. Returns [batch, C, H, W] float32, CPU.
// (ComfyUI instead draws a whole batch from one seed.)
torch::Tensor BatchNoise(uint64_t seed, int batch, int channels, int height, int width);

// The noise a stochastic sampler adds when it steps from sigma to sigma_next. Each call
// returns a fresh tensor shaped like the latent being sampled, on its device and in its dtype.
// Not thread-safe: a sampler owns one for the duration of one Sample() call.
class NoiseSampler {
 public:
  virtual ~NoiseSampler() = default;
  virtual torch::Tensor operator()(float sigma, float sigma_next) = 0;
};

// Independent N(0, 1) draws from a CPU generator seeded once with `seed`: each call is
// torch.randn(shape, generator) in float32 on the CPU, then moved to device/dtype. This is
// ComfyUI's default_noise_sampler(x, seed) for a float32 CPU latent, except that ComfyUI seeds
// that generator with seed + 1 when x is on the CPU (and uses a device generator otherwise):
// pass seed + 1 to reproduce ComfyUI's CPU runs number for number.
class GaussianNoiseSampler : public NoiseSampler {
 public:
  GaussianNoiseSampler(uint64_t seed, std::vector<int64_t> shape,
                       torch::Dtype dtype = torch::kFloat32, torch::Device device = torch::kCPU);
  torch::Tensor operator()(float sigma, float sigma_next) override;

 private:
  at::Generator generator_;
  std::vector<int64_t> shape_;
  torch::Dtype dtype_;
  torch::Device device_;
};

}  // namespace easel::engine

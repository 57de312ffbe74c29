// Seeded Gaussian noise (see noise.h).
#include "engine/sample/noise.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <utility>

#include "util/status.h"

namespace easel::engine {
namespace {

// createCPUGenerator(seed) == torch.Generator().manual_seed(seed) == torch.manual_seed(seed)
// applied to a private generator: the same mt19937 state, in libtorch 1.13 and 2.x alike.
at::Generator SeededCpuGenerator(uint64_t seed) {
  return at::detail::createCPUGenerator(seed);
}

void CheckPositive(const char* what, int value) {
  if (value <= 0)
    throw Error(Code::kInvalidArgument,
                std::string("noise: ") + what + " must be positive, got " + std::to_string(value));
}

}  // namespace

torch::Tensor InitialNoise(uint64_t seed, int channels, int height, int width) {
  CheckPositive("channels", channels);
  CheckPositive("height", height);
  CheckPositive("width", width);
  at::Generator generator = SeededCpuGenerator(seed);
  // [1, C, H, W]
  return torch::randn({1, channels, height, width}, generator,
                      torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU));
}

torch::Tensor BatchNoise(uint64_t seed, int batch, int channels, int height, int width) {
  CheckPositive("batch", batch);
  std::vector<torch::Tensor> images;
  images.reserve(static_cast<size_t>(batch));
  for (int i = 0; i < batch; ++i)
    images.push_back(InitialNoise(seed + static_cast<uint64_t>(i), channels, height, width));
  return torch::cat(images, 0);  // [batch, C, H, W]
}

GaussianNoiseSampler::GaussianNoiseSampler(uint64_t seed, std::vector<int64_t> shape,
                                           torch::Dtype dtype, torch::Device device)
    : generator_(SeededCpuGenerator(seed)),
      shape_(std::move(shape)),
      dtype_(dtype),
      device_(device) {}

torch::Tensor GaussianNoiseSampler::operator()(float /*sigma*/, float /*sigma_next*/) {
  torch::Tensor noise = torch::randn(
      shape_, generator_, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU));
  return noise.to(device_, dtype_);
}

}  // namespace easel::engine

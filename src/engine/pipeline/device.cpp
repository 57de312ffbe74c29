#include "engine/pipeline/device.h"

#include <torch/cuda.h>

namespace easel::engine {

Result<Placement> ResolvePlacement(const std::string& device, const std::string& dtype) {
  Placement p;
  if (dtype == "fp32") {
    p.dtype = torch::kFloat32;
  } else if (dtype == "fp16") {
    p.dtype = torch::kFloat16;
  } else if (dtype == "bf16") {
    p.dtype = torch::kBFloat16;
  } else {
    return InvalidArgument("dtype '" + dtype + "' is unknown: use fp32, fp16 or bf16");
  }
  if (device == "cpu") {
    if (p.dtype == torch::kFloat16)
      return Unsupported(
          "fp16 on the CPU is not supported (libtorch's CPU kernels lack it): "
          "use --dtype fp32 or bf16 on the CPU, or --device cuda");
    return p;
  }
  if (device.rfind("cuda", 0) != 0)
    return InvalidArgument("device '" + device + "' is unknown: use cpu, cuda or cuda:N");
  if (!torch::cuda::is_available())
    return Unsupported("device '" + device +
                       "' asked for, but this build or machine has no CUDA: use --device cpu, "
                       "or build Easel against a CUDA LibTorch (see the README)");
  int index = 0;
  if (device.size() > 4) {
    if (device[4] != ':' || device.size() == 5 || device.size() > 8 ||
        device.find_first_not_of("0123456789", 5) != std::string::npos)
      return InvalidArgument("device '" + device + "' is malformed: use cuda or cuda:N");
    index = std::stoi(device.substr(5));
  }
  const int count = static_cast<int>(torch::cuda::device_count());
  if (index >= count)
    return InvalidArgument("device '" + device + "' does not exist: this machine has " +
                           std::to_string(count) + " CUDA device(s)");
  p.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  return p;
}

}  // namespace easel::engine

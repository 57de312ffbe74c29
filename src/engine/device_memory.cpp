// Free-memory queries for the CPU (/proc/meminfo) and CUDA: see device_memory.h.
#include "engine/device_memory.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#ifdef EASEL_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace easel::engine {

namespace {

int64_t HostAvailableBytes() {
  std::ifstream in("/proc/meminfo");
  if (!in) return 0;
  std::ostringstream text;
  text << in.rdbuf();
  return ParseMemAvailable(text.str());
}

int64_t CudaAvailableBytes([[maybe_unused]] const torch::Device& device) {
#ifdef EASEL_WITH_CUDA
  try {
    const c10::DeviceIndex index = device.has_index() ? device.index() : c10::DeviceIndex{0};
    c10::cuda::CUDAGuard guard(index);
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky error so later calls are not blamed for it
      return 0;
    }
    // Blocks the caching allocator reserved but holds no tensor in are free to PyTorch too.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    const int64_t cached = stats.reserved_bytes[0].current - stats.allocated_bytes[0].current;
    return static_cast<int64_t>(free_bytes) + std::max<int64_t>(0, cached);
  } catch (...) {
    return 0;
  }
#else
  return 0;
#endif
}

}  // namespace

int64_t ParseMemAvailable(const std::string& meminfo) {
  std::istringstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t value = 0;
    std::string unit;
    if (!(fields >> value) || value < 0) return 0;
    fields >> unit;
    if (unit.empty()) return value;  // bytes (no unit written)
    if (unit != "kB") return 0;
    if (value > std::numeric_limits<int64_t>::max() / 1024) return 0;
    return value * 1024;
  }
  return 0;
}

int64_t AvailableDeviceBytes(const torch::Device& device) {
  if (device.is_cpu()) return HostAvailableBytes();
  if (device.is_cuda()) return CudaAvailableBytes(device);
  return 0;
}

}  // namespace easel::engine

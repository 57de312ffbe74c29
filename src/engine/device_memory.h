// How many bytes a device can still give to new tensors: free CUDA memory (driver-free plus
// what PyTorch's caching allocator holds but does not use) or the host's MemAvailable. Used
// to decide whether a stage (the VAE decode) must be tiled. Only a snapshot: other processes
// change it at any time, so callers keep a margin and still catch out-of-memory.
//
// CUDA is queried only when the engine is compiled with EASEL_WITH_CUDA (CMake sets it when
// LibTorch has c10_cuda); otherwise a CUDA device reports 0 (unknown).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace easel::engine {

// Bytes available on `device`; 0 when unknown (an unreadable /proc/meminfo, a CUDA device in
// a CPU-only build, another device type). Thread-safe; never throws.
int64_t AvailableDeviceBytes(const torch::Device& device);

// The MemAvailable line of a /proc/meminfo text, in bytes; 0 when absent or malformed.
int64_t ParseMemAvailable(const std::string& meminfo);

}  // namespace easel::engine

// Residual add with the folded-in bias of the layer before it: see kernels.h.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/device_math.cuh"
#include "engine/cuda/kernels.h"

namespace easel::cuda {
namespace {

template <typename T, int V>
__global__ void AddResidualKernel(const T* __restrict__ a, const T* __restrict__ b,
                                  const T* __restrict__ bias, T* __restrict__ out, int64_t rows,
                                  int64_t c) {
  const int64_t per_row = c / V, total = rows * per_row;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = (i % per_row) * V, at = i * V;
    const Pack<T, V> pa = LoadPack<T, V>(a + at), pb = LoadPack<T, V>(b + at);
    Pack<T, V> o;
    if (bias != nullptr) {
      const Pack<T, V> pc = LoadPack<T, V>(bias + j);
#pragma unroll
      for (int v = 0; v < V; ++v) o.v[v] = FromF<T>(ToF(pa.v[v]) + ToF(pb.v[v]) + ToF(pc.v[v]));
    } else {
#pragma unroll
      for (int v = 0; v < V; ++v) o.v[v] = FromF<T>(ToF(pa.v[v]) + ToF(pb.v[v]));
    }
    StorePack<T, V>(out + at, o);
  }
}

template <typename T>
const char* Launch(const void* a, const void* b, const void* bias, void* out, int64_t rows,
                   int64_t c, cudaStream_t stream) {
  int vec = 16 / static_cast<int>(sizeof(T));
  const auto aligned = [&](const void* p, int v) {
    return p == nullptr || reinterpret_cast<uintptr_t>(p) % (v * sizeof(T)) == 0;
  };
  while (vec > 1 && (c % vec != 0 || !aligned(a, vec) || !aligned(b, vec) || !aligned(bias, vec) ||
                     !aligned(out, vec)))
    vec /= 2;
  const int64_t total = rows * (c / vec);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 8192));
  auto run = [&](auto kernel) {
    kernel<<<blocks, 256, 0, stream>>>(static_cast<const T*>(a), static_cast<const T*>(b),
                                       static_cast<const T*>(bias), static_cast<T*>(out), rows, c);
  };
  switch (vec) {
    case 8: run(AddResidualKernel<T, 8>); break;
    case 4: run(AddResidualKernel<T, 4>); break;
    case 2: run(AddResidualKernel<T, 2>); break;
    default: run(AddResidualKernel<T, 1>); break;
  }
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

const char* AddResidual(const void* a, const void* b, const void* bias, void* out, int64_t rows,
                        int64_t c, DType dtype, void* stream) {
  if (rows < 0 || c <= 0) return "AddResidual: bad shape";
  if (rows == 0) return nullptr;
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::kF16: return Launch<__half>(a, b, bias, out, rows, c, s);
    case DType::kBF16: return Launch<__nv_bfloat16>(a, b, bias, out, rows, c, s);
    case DType::kF32: return Launch<float>(a, b, bias, out, rows, c, s);
  }
  return "AddResidual: unknown dtype";
}

}  // namespace easel::cuda

// GEGLU activation in one pass, the projection's bias folded in: see kernels.h.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/device_math.cuh"
#include "engine/cuda/kernels.h"

namespace easel::cuda {
namespace {

template <typename T, int V>
__global__ void GegluKernel(const T* __restrict__ h, const T* __restrict__ bias,
                            T* __restrict__ out, int64_t rows, int64_t inner) {
  const int64_t per_row = inner / V, total = rows * per_row;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / per_row, j = (i % per_row) * V;
    const T* hr = h + r * 2 * inner;
    const Pack<T, V> value = LoadPack<T, V>(hr + j), gate = LoadPack<T, V>(hr + inner + j);
    float bv[V], bg[V];
#pragma unroll
    for (int v = 0; v < V; ++v) {
      bv[v] = bias ? ToF(bias[j + v]) : 0.f;
      bg[v] = bias ? ToF(bias[inner + j + v]) : 0.f;
    }
    Pack<T, V> o;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const float g = ToF(gate.v[v]) + bg[v];
      const float gelu = 0.5f * g * (1.f + erff(g * 0.7071067811865476f));
      o.v[v] = FromF<T>((ToF(value.v[v]) + bv[v]) * gelu);
    }
    StorePack<T, V>(out + r * inner + j, o);
  }
}

template <typename T>
const char* Launch(const void* h, const void* bias, void* out, int64_t rows, int64_t inner,
                   cudaStream_t stream) {
  int vec = 16 / static_cast<int>(sizeof(T));
  const auto aligned = [&](const void* p, int v) {
    return p == nullptr || reinterpret_cast<uintptr_t>(p) % (v * sizeof(T)) == 0;
  };
  while (vec > 1 &&
         (inner % vec != 0 || !aligned(h, vec) || !aligned(out, vec) || !aligned(bias, vec)))
    vec /= 2;
  const int64_t total = rows * (inner / vec);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 8192));
  auto run = [&](auto kernel) {
    kernel<<<blocks, 256, 0, stream>>>(static_cast<const T*>(h), static_cast<const T*>(bias),
                                       static_cast<T*>(out), rows, inner);
  };
  switch (vec) {
    case 8: run(GegluKernel<T, 8>); break;
    case 4: run(GegluKernel<T, 4>); break;
    case 2: run(GegluKernel<T, 2>); break;
    default: run(GegluKernel<T, 1>); break;
  }
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

const char* Geglu(const void* h, const void* bias, void* out, int64_t rows, int64_t inner,
                  DType dtype, void* stream) {
  if (rows < 0 || inner <= 0) return "Geglu: bad shape";
  if (rows == 0) return nullptr;
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::kF16: return Launch<__half>(h, bias, out, rows, inner, s);
    case DType::kBF16: return Launch<__nv_bfloat16>(h, bias, out, rows, inner, s);
    case DType::kF32: return Launch<float>(h, bias, out, rows, inner, s);
  }
  return "Geglu: unknown dtype";
}

}  // namespace easel::cuda

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

}  // namespace

const char* Geglu(const void* h, const void* bias, void* out, int64_t rows, int64_t inner,
                  DType dtype, void* stream) {
  if (rows < 0 || inner <= 0) return "Geglu: bad shape";
  if (rows == 0) return nullptr;
  return DispatchDType(dtype, [&](auto zero) -> const char* {
    using T = decltype(zero);
    // bias spans 2 * inner; a pack width dividing inner keeps both halves aligned.
    DispatchPack(PackWidth<T>(inner, {h, bias, out}), [&](auto v) {
      constexpr int V = decltype(v)::value;
      GegluKernel<T, V><<<GridFor(rows * (inner / V)), 256, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(h), static_cast<const T*>(bias), static_cast<T*>(out), rows, inner);
    });
    return nullptr;
  });
}

}  // namespace easel::cuda

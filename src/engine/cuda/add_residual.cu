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

}  // namespace

const char* AddResidual(const void* a, const void* b, const void* bias, void* out, int64_t rows,
                        int64_t c, DType dtype, void* stream) {
  if (rows < 0 || c <= 0) return "AddResidual: bad shape";
  if (rows == 0) return nullptr;
  return DispatchDType(dtype, [&](auto zero) -> const char* {
    using T = decltype(zero);
    DispatchPack(PackWidth<T>(c, {a, b, bias, out}), [&](auto v) {
      constexpr int V = decltype(v)::value;
      AddResidualKernel<T, V>
          <<<GridFor(rows * (c / V)), 256, 0, static_cast<cudaStream_t>(stream)>>>(
              static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(bias),
              static_cast<T*>(out), rows, c);
    });
    return nullptr;
  });
}

}  // namespace easel::cuda

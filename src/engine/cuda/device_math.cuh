// Small device helpers shared by Easel's kernels: float <-> storage-type conversions and an
// aligned pack of V elements, loaded and stored as one vector access.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "engine/cuda/kernels.h"

namespace easel::cuda {

__device__ __forceinline__ float ToF(float v) {
  return v;
}
__device__ __forceinline__ float ToF(__half v) {
  return __half2float(v);
}
__device__ __forceinline__ float ToF(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T FromF(float v);
template <>
__device__ __forceinline__ float FromF<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half FromF<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromF<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// V consecutive elements; the pointer it is read from must be aligned to sizeof(Pack).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> LoadPack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}
template <typename T, int V>
__device__ __forceinline__ void StorePack(T* p, const Pack<T, V>& pack) {
  *reinterpret_cast<Pack<T, V>*>(p) = pack;
}

// ---- host-side launch helpers shared by the elementwise kernels

// The widest pack (16 bytes down to one element) that divides a row of `width` elements and
// every pointer's alignment (null pointers do not count).
template <typename T>
inline int PackWidth(int64_t width, std::initializer_list<const void*> pointers) {
  int vec = 16 / static_cast<int>(sizeof(T));
  const auto fits = [&](int v) {
    if (width % v != 0) return false;
    for (const void* p : pointers)
      if (p != nullptr && reinterpret_cast<uintptr_t>(p) % (v * sizeof(T)) != 0) return false;
    return true;
  };
  while (vec > 1 && !fits(vec)) vec /= 2;
  return vec;
}

// Blocks of 256 threads for a grid-stride loop over `total` items.
inline unsigned GridFor(int64_t total) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((total + 255) / 256, 8192)));
}

// launch(std::integral_constant<int, V>{}) for V = vec (8, 4, 2 or 1).
template <class Launch>
void DispatchPack(int vec, Launch&& launch) {
  switch (vec) {
    case 8: launch(std::integral_constant<int, 8>{}); break;
    case 4: launch(std::integral_constant<int, 4>{}); break;
    case 2: launch(std::integral_constant<int, 2>{}); break;
    default: launch(std::integral_constant<int, 1>{}); break;
  }
}

// run(T{}) with T the storage type of dtype; its message, or the launch error.
template <class Run>
const char* DispatchDType(DType dtype, Run&& run) {
  const char* error = "unknown dtype";
  switch (dtype) {
    case DType::kF16: error = run(__half{}); break;
    case DType::kBF16: error = run(__nv_bfloat16{}); break;
    case DType::kF32: error = run(float{}); break;
  }
  if (error != nullptr) return error;
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace easel::cuda

// Nearest 2x upsampling of channels-last images: see kernels.h.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/device_math.cuh"
#include "engine/cuda/kernels.h"

namespace easel::cuda {
namespace {

// One thread per (input pixel, V channels): one pack read, four written.
template <typename T, int V>
__global__ void Upsample2xKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t h,
                                 int64_t w, int64_t c) {
  const int64_t per_pixel = c / V, total = n * h * w * per_pixel;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t ch = (i % per_pixel) * V, pixel = i / per_pixel;
    const int64_t col = pixel % w, row = (pixel / w) % h, img = pixel / (w * h);
    const Pack<T, V> v = LoadPack<T, V>(x + pixel * c + ch);
    const int64_t w2 = 2 * w;
    T* out = y + ((img * 2 * h + 2 * row) * w2 + 2 * col) * c + ch;
    StorePack<T, V>(out, v);
    StorePack<T, V>(out + c, v);
    StorePack<T, V>(out + w2 * c, v);
    StorePack<T, V>(out + w2 * c + c, v);
  }
}

}  // namespace

const char* UpsampleNearest2x(const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c,
                              DType dtype, void* stream) {
  if (n < 0 || h < 0 || w < 0 || c <= 0) return "UpsampleNearest2x: bad shape";
  if (n * h * w == 0) return nullptr;
  return DispatchDType(dtype, [&](auto zero) -> const char* {
    using T = decltype(zero);
    DispatchPack(PackWidth<T>(c, {x, y}), [&](auto v) {
      constexpr int V = decltype(v)::value;
      Upsample2xKernel<T, V>
          <<<GridFor(n * h * w * (c / V)), 256, 0, static_cast<cudaStream_t>(stream)>>>(
              static_cast<const T*>(x), static_cast<T*>(y), n, h, w, c);
    });
    return nullptr;
  });
}

}  // namespace easel::cuda

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

template <typename T>
const char* Launch(const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c,
                   cudaStream_t stream) {
  int vec = 16 / static_cast<int>(sizeof(T));
  const auto aligned = [&](const void* p, int v) {
    return reinterpret_cast<uintptr_t>(p) % (v * sizeof(T)) == 0;
  };
  while (vec > 1 && (c % vec != 0 || !aligned(x, vec) || !aligned(y, vec))) vec /= 2;
  const int64_t total = n * h * w * (c / vec);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 8192));
  auto run = [&](auto kernel) {
    kernel<<<blocks, 256, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), n, h, w, c);
  };
  switch (vec) {
    case 8: run(Upsample2xKernel<T, 8>); break;
    case 4: run(Upsample2xKernel<T, 4>); break;
    case 2: run(Upsample2xKernel<T, 2>); break;
    default: run(Upsample2xKernel<T, 1>); break;
  }
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

const char* UpsampleNearest2x(const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c,
                              DType dtype, void* stream) {
  if (n < 0 || h < 0 || w < 0 || c <= 0) return "UpsampleNearest2x: bad shape";
  if (n * h * w == 0) return nullptr;
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::kF16: return Launch<__half>(x, y, n, h, w, c, s);
    case DType::kBF16: return Launch<__nv_bfloat16>(x, y, n, h, w, c, s);
    case DType::kF32: return Launch<float>(x, y, n, h, w, c, s);
  }
  return "UpsampleNearest2x: unknown dtype";
}

}  // namespace easel::cuda

// Easel's own CUDA kernels, torch-free: raw device pointers and a cudaStream_t passed as
// void*, so this header compiles in any translation unit. The torch-facing wrappers
// (shape checks, allocation, the fallback to ATen ops) are in src/engine/nets/fused_ops.*.
//
// Built only when CMake finds a CUDA compiler next to a CUDA LibTorch (option
// EASEL_WITH_CUDA_KERNELS; the build then defines the macro of that name). Every function
// returns nullptr on success, else a static message naming what went wrong.
#pragma once

#include <cstddef>
#include <cstdint>

namespace easel::cuda {

enum class DType { kF16, kBF16, kF32 };

// GroupNorm over a channels-last (NHWC) tensor, optionally with a per-(n, c) value added
// before normalising (the ResBlock's time embedding) and SiLU applied after the affine:
//   v = x[n, p, c] + add[n, c];  y = act((v - mean[n, g]) * rstd[n, g] * gamma[c] + beta[c])
// x, y: [N, HW, C] contiguous (y may not alias x); add: [N, C] or nullptr; gamma, beta: [C]
// (all of `dtype`). Statistics are accumulated in float with a per-group shift, combined
// across blocks in double, in a fixed order (the result is deterministic).
// workspace: GroupNormWorkspaceFloats() floats of device memory.
struct GroupNormArgs {
  const void* x = nullptr;
  const void* add = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* y = nullptr;
  float* workspace = nullptr;
  int64_t n = 0, hw = 0, c = 0;
  int64_t groups = 32;
  float eps = 1e-5f;
  bool silu = false;
  DType dtype = DType::kF16;
};
size_t GroupNormWorkspaceFloats(int64_t n, int64_t groups);
// Whether GroupNormNhwc handles these arguments (C a multiple of groups; C over the vector
// width that the group size and the pointers' alignment allow fits one thread block; y may
// still be null); callers fall back to ATen otherwise.
bool GroupNormNhwcSupports(const GroupNormArgs& args);
const char* GroupNormNhwc(const GroupNormArgs& args, void* stream);

// GEGLU activation of the feed-forward: h: [rows, 2 * inner] contiguous -> out: [rows, inner],
// with u = h + bias (bias: [2 * inner], the projection's, or nullptr):
// out = u[:, :inner] * gelu(u[:, inner:]) with the exact (erf) GELU, one pass.
const char* Geglu(const void* h, const void* bias, void* out, int64_t rows, int64_t inner,
                  DType dtype, void* stream);

// out[r, c] = a[r, c] + b[r, c] + bias[c]: a residual add with the bias of the layer that made
// b folded in (that layer then runs without its bias pass). a, b, out: [rows, C] contiguous
// (channels-last images, token tensors); bias: [C] or nullptr. Summed in float, rounded once.
const char* AddResidual(const void* a, const void* b, const void* bias, void* out, int64_t rows,
                        int64_t c, DType dtype, void* stream);

// Nearest-neighbour 2x upsampling of a channels-last image: x: [N, H, W, C] -> y: [N, 2H, 2W, C]
// (y[n, i, j] = x[n, i / 2, j / 2]). ATen's NHWC nearest kernel moves one element per thread.
const char* UpsampleNearest2x(const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c,
                              DType dtype, void* stream);

}  // namespace easel::cuda

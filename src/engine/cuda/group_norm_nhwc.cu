// Fused GroupNorm (+ per-channel add, + SiLU) over channels-last tensors: see kernels.h.
//
// Three launches: partial sums per (image, group, pixel block) -> per-(image, group) mean and
// 1/std -> the normalised output. Each thread owns V consecutive channels of one group (V
// divides C / groups), so its pack loads are coalesced across the warp and it never needs to
// know which group an element belongs to. Sums are of x - shift, the shift being the group's
// first element, so E[x^2] - E[x]^2 does not cancel when a group's mean is large next to its
// spread (the VAE's activations).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/device_math.cuh"
#include "engine/cuda/kernels.h"

namespace easel::cuda {
namespace {

constexpr int64_t kTargetBlocks = 512;  // statistics blocks per launch: ~4 per SM on an H100
constexpr int kThreads = 256;

struct Plan {
  int vec = 1;      // channels per thread
  int cv = 0;       // threads per pixel row (C / vec)
  int rows = 1;     // pixel rows a block walks at once
  int64_t nb = 1;   // pixel blocks per image
  int64_t ppb = 0;  // pixels per block
};

int64_t MaxBlocksPerImage(int64_t n) {
  return std::max<int64_t>(1, kTargetBlocks / n);
}

bool Aligned(const void* p, int64_t bytes) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}

Plan MakePlan(const GroupNormArgs& a, int elem_bytes) {
  Plan p;
  const int64_t cg = a.c / a.groups;
  for (int v = 16 / elem_bytes; v >= 1; v /= 2) {
    const int64_t bytes = int64_t{v} * elem_bytes;
    if (cg % v == 0 && Aligned(a.x, bytes) && Aligned(a.y, bytes) && Aligned(a.add, bytes) &&
        Aligned(a.gamma, bytes) && Aligned(a.beta, bytes) && (a.c * elem_bytes) % bytes == 0) {
      p.vec = v;
      break;
    }
  }
  p.cv = static_cast<int>(a.c / p.vec);
  p.rows = std::max(1, kThreads / p.cv);
  // At least 4 pixels per thread, at most MaxBlocksPerImage blocks.
  const int64_t by_work = (a.hw + int64_t{p.rows} * 4 - 1) / (int64_t{p.rows} * 4);
  p.nb = std::max<int64_t>(1, std::min(MaxBlocksPerImage(a.n), by_work));
  p.ppb = (a.hw + p.nb - 1) / p.nb;
  p.nb = (a.hw + p.ppb - 1) / p.ppb;
  return p;
}

// The value every sum of group g of image n is taken relative to; computed the same way in
// the two kernels that use it.
template <typename T>
__device__ __forceinline__ float GroupShift(const T* xn, const T* add, int64_t n, int64_t c,
                                            int64_t first_channel) {
  return ToF(xn[first_channel]) + (add ? ToF(add[n * c + first_channel]) : 0.f);
}

// grid (nb, N), block (cv, rows); shared: rows * cv float2.
// partials: [N, groups, nb] of (sum, sum of squares) of x + add - shift.
template <typename T, int V>
__global__ void GnPartials(const T* __restrict__ x, const T* __restrict__ add, int64_t hw,
                           int64_t c, int64_t cg, int64_t ppb, int64_t groups,
                           float2* __restrict__ partials) {
  extern __shared__ float2 sums[];
  const int cv = blockDim.x, tx = threadIdx.x, ty = threadIdx.y, rows = blockDim.y;
  const int64_t n = blockIdx.y, c0 = int64_t{tx} * V, g = c0 / cg;
  const T* xn = x + n * hw * c;
  const float shift = GroupShift(xn, add, n, c, g * cg);
  float extra[V];
#pragma unroll
  for (int v = 0; v < V; ++v) extra[v] = (add ? ToF(add[n * c + c0 + v]) : 0.f) - shift;
  float s = 0.f, ss = 0.f;
  const int64_t p0 = blockIdx.x * ppb, p1 = min(hw, p0 + ppb);
  for (int64_t p = p0 + ty; p < p1; p += rows) {
    const Pack<T, V> pk = LoadPack<T, V>(xn + p * c + c0);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const float f = ToF(pk.v[v]) + extra[v];
      s += f;
      ss += f * f;
    }
  }
  sums[ty * cv + tx] = make_float2(s, ss);
  __syncthreads();
  const int t = ty * cv + tx;
  if (t < groups) {  // cv = groups * (cg / V) >= groups: every group has a summing thread
    const int per = static_cast<int>(cg / V);
    float S = 0.f, SS = 0.f;
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < per; ++j) {
        const float2 q = sums[r * cv + t * per + j];
        S += q.x;
        SS += q.y;
      }
    partials[(n * groups + t) * gridDim.x + blockIdx.x] = make_float2(S, SS);
  }
}

// One block of kFinalizeThreads per (n, g): stats[n * groups + g] = (mean, 1 / sqrt(var + eps)).
// The block's threads stride over the pixel blocks' partials and reduce in a fixed tree.
constexpr int kFinalizeThreads = 128;
template <typename T>
__global__ void GnFinalize(const T* __restrict__ x, const T* __restrict__ add,
                           const float2* __restrict__ partials, int64_t nb, int64_t hw, int64_t c,
                           int64_t cg, int64_t groups, float eps, float2* __restrict__ stats) {
  __shared__ double sum[kFinalizeThreads], sumsq[kFinalizeThreads];
  const int64_t i = blockIdx.x, n = i / groups, g = i % groups;
  const int t = threadIdx.x;
  double S = 0.0, SS = 0.0;
  for (int64_t b = t; b < nb; b += kFinalizeThreads) {
    const float2 q = partials[i * nb + b];
    S += q.x;
    SS += q.y;
  }
  sum[t] = S;
  sumsq[t] = SS;
  __syncthreads();
  for (int stride = kFinalizeThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) {
      sum[t] += sum[t + stride];
      sumsq[t] += sumsq[t + stride];
    }
    __syncthreads();
  }
  if (t != 0) return;
  const float shift = GroupShift(x + n * hw * c, add, n, c, g * cg);
  const double count = static_cast<double>(hw) * static_cast<double>(cg);
  const double m = sum[0] / count;
  const double var = fmax(sumsq[0] / count - m * m, 0.0);
  stats[i] = make_float2(static_cast<float>(m + shift),
                         static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps))));
}

// grid (nb, N), block (cv, rows).
template <typename T, int V, bool kSilu>
__global__ void GnApply(const T* __restrict__ x, const T* __restrict__ add,
                        const T* __restrict__ gamma, const T* __restrict__ beta,
                        const float2* __restrict__ stats, int64_t hw, int64_t c, int64_t cg,
                        int64_t ppb, int64_t groups, T* __restrict__ y) {
  const int tx = threadIdx.x, ty = threadIdx.y, rows = blockDim.y;
  const int64_t n = blockIdx.y, c0 = int64_t{tx} * V, g = c0 / cg;
  const float2 st = stats[n * groups + g];  // (mean, rstd)
  float offset[V], scale[V], bias[V];
#pragma unroll
  for (int v = 0; v < V; ++v) {
    offset[v] = (add ? ToF(add[n * c + c0 + v]) : 0.f) - st.x;
    scale[v] = st.y * ToF(gamma[c0 + v]);
    bias[v] = ToF(beta[c0 + v]);
  }
  const int64_t p0 = blockIdx.x * ppb, p1 = min(hw, p0 + ppb);
  const int64_t base = n * hw * c + c0;
  for (int64_t p = p0 + ty; p < p1; p += rows) {
    const Pack<T, V> in = LoadPack<T, V>(x + base + p * c);
    Pack<T, V> out;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      float f = (ToF(in.v[v]) + offset[v]) * scale[v] + bias[v];
      if (kSilu) f = f / (1.f + __expf(-f));
      out.v[v] = FromF<T>(f);
    }
    StorePack<T, V>(y + base + p * c, out);
  }
}

template <typename T, int V>
const char* LaunchV(const GroupNormArgs& a, const Plan& p, cudaStream_t stream) {
  const T* x = static_cast<const T*>(a.x);
  const T* add = static_cast<const T*>(a.add);
  const int64_t cg = a.c / a.groups;
  auto* partials = reinterpret_cast<float2*>(a.workspace);
  float2* stats = partials + a.n * a.groups * p.nb;
  const dim3 grid(static_cast<unsigned>(p.nb), static_cast<unsigned>(a.n));
  const dim3 block(static_cast<unsigned>(p.cv), static_cast<unsigned>(p.rows));
  const size_t shared = sizeof(float2) * p.cv * p.rows;
  GnPartials<T, V>
      <<<grid, block, shared, stream>>>(x, add, a.hw, a.c, cg, p.ppb, a.groups, partials);
  GnFinalize<T><<<static_cast<unsigned>(a.n * a.groups), kFinalizeThreads, 0, stream>>>(
      x, add, partials, p.nb, a.hw, a.c, cg, a.groups, a.eps, stats);
  auto apply = a.silu ? GnApply<T, V, true> : GnApply<T, V, false>;
  apply<<<grid, block, 0, stream>>>(x, add, static_cast<const T*>(a.gamma),
                                    static_cast<const T*>(a.beta), stats, a.hw, a.c, cg, p.ppb,
                                    a.groups, static_cast<T*>(a.y));
  return nullptr;  // launch errors: DispatchDType
}

template <typename T>
const char* Launch(const GroupNormArgs& a, cudaStream_t stream) {
  const Plan p = MakePlan(a, sizeof(T));
  if (p.cv > 1024) return "GroupNormNhwc: too many channels per thread block";
  const char* error = nullptr;
  DispatchPack(p.vec, [&](auto v) { error = LaunchV<T, decltype(v)::value>(a, p, stream); });
  return error;
}

}  // namespace

size_t GroupNormWorkspaceFloats(int64_t n, int64_t groups) {
  // partials [N, groups, nb] and stats [N, groups], float2 each; nb <= MaxBlocksPerImage.
  return static_cast<size_t>(2 * n * groups * (MaxBlocksPerImage(n) + 1));
}

static int ElemBytes(DType d) {
  return d == DType::kF32 ? 4 : 2;
}

bool GroupNormNhwcSupports(const GroupNormArgs& a) {
  if (a.groups <= 0 || a.c <= 0 || a.c % a.groups != 0 || a.n <= 0 || a.n > 65535 || a.hw <= 0)
    return false;
  return MakePlan(a, ElemBytes(a.dtype)).cv <= 1024;
}

const char* GroupNormNhwc(const GroupNormArgs& a, void* stream) {
  if (!GroupNormNhwcSupports(a)) return "GroupNormNhwc: unsupported shape";
  return DispatchDType(a.dtype, [&](auto zero) {
    return Launch<decltype(zero)>(a, static_cast<cudaStream_t>(stream));
  });
}

}  // namespace easel::cuda

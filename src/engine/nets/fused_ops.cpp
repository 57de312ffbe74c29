// Fused operations with an ATen fallback: see fused_ops.h.
#include "engine/nets/fused_ops.h"

#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "util/status.h"

#ifdef EASEL_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "engine/cuda/kernels.h"
#endif

namespace easel::engine {

namespace F = torch::nn::functional;

bool FusedKernelsBuilt() {
#ifdef EASEL_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

bool FusedKernelsEnabled() {
  if (!FusedKernelsBuilt()) return false;
  const char* env = std::getenv("EASEL_FUSED_KERNELS");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

#ifdef EASEL_WITH_CUDA_KERNELS
namespace {

bool KernelDType(const torch::Tensor& t, cuda::DType* out) {
  switch (t.scalar_type()) {
    case torch::kFloat16: *out = cuda::DType::kF16; return true;
    case torch::kBFloat16: *out = cuda::DType::kBF16; return true;
    case torch::kFloat32: *out = cuda::DType::kF32; return true;
    default: return false;
  }
}

// A [len] (or [N, C]) operand the kernels can read: same device and dtype as x, contiguous.
bool Operand(const torch::Tensor& t, const torch::Tensor& x, torch::IntArrayRef sizes) {
  return t.defined() && t.device() == x.device() && t.scalar_type() == x.scalar_type() &&
         t.is_contiguous() && t.sizes() == sizes;
}

void Check(const char* error, const char* what) {
  if (error != nullptr)
    throw Error(Code::kInternal, std::string("CUDA kernel ") + what + " failed: " + error +
                                     " (EASEL_FUSED_KERNELS=0 runs the ATen ops instead)");
}

}  // namespace
#endif

bool UseFusedPath(const torch::Tensor& x) {
  return x.is_cuda() && FusedKernelsEnabled();
}

torch::Tensor ConvNoBias(const layers::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& o = conv.options;
  return F::conv2d(x, conv.weight,
                   F::Conv2dFuncOptions()
                       .stride(o.stride())
                       .padding(o.padding())
                       .dilation(o.dilation())
                       .groups(o.groups()));
}

torch::Tensor LinearNoBias(const layers::LinearImpl& linear, const torch::Tensor& x) {
  return F::linear(x, linear.weight);
}

torch::Tensor ResidualAdd(const torch::Tensor& x, const torch::Tensor& h,
                          const torch::Tensor& bias) {
  const bool image = x.dim() == 4;
  const int64_t c = x.dim() == 0 ? 1 : x.size(image ? 1 : -1);
#ifdef EASEL_WITH_CUDA_KERNELS
  cuda::DType dtype;
  const auto format = image ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (x.is_cuda() && x.dim() >= 1 && x.sizes() == h.sizes() && x.scalar_type() == h.scalar_type() &&
      x.device() == h.device() && x.is_contiguous(format) && h.is_contiguous(format) &&
      (!bias.defined() || Operand(bias, x, {c})) && KernelDType(x, &dtype) &&
      FusedKernelsEnabled()) {
    const c10::cuda::CUDAGuard guard(x.device());
    torch::Tensor out = torch::empty_like(x, format);
    Check(cuda::AddResidual(x.data_ptr(), h.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr,
                            out.data_ptr(), x.numel() / c, c, dtype,
                            c10::cuda::getCurrentCUDAStream().stream()),
          "AddResidual");
    return out;
  }
#endif
  if (!bias.defined()) return x + h;
  return image ? x + h + bias.view({1, c, 1, 1}) : x + h + bias;
}

torch::Tensor AddShortcut(const torch::Tensor& x, const layers::Conv2dImpl* skip,
                          const torch::Tensor& h, const torch::Tensor& h_bias) {
  if (skip == nullptr) return ResidualAdd(x, h, h_bias);
  torch::Tensor bias = h_bias;
  if (skip->bias.defined()) bias = bias.defined() ? bias + skip->bias : skip->bias;
  return ResidualAdd(ConvNoBias(*skip, x), h, bias);
}

torch::Tensor UpsampleNearest(const torch::Tensor& x, const std::vector<int64_t>& size) {
#ifdef EASEL_WITH_CUDA_KERNELS
  cuda::DType dtype;
  if (x.is_cuda() && x.dim() == 4 && size.size() == 2 && size[0] == 2 * x.size(2) &&
      size[1] == 2 * x.size(3) && x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
      KernelDType(x, &dtype) && FusedKernelsEnabled()) {
    const c10::cuda::CUDAGuard guard(x.device());
    torch::Tensor y = torch::empty({x.size(0), x.size(1), size[0], size[1]},
                                   x.options().memory_format(at::MemoryFormat::ChannelsLast));
    Check(cuda::UpsampleNearest2x(x.data_ptr(), y.data_ptr(), x.size(0), x.size(2), x.size(3),
                                  x.size(1), dtype, c10::cuda::getCurrentCUDAStream().stream()),
          "UpsampleNearest2x");
    return y;
  }
#endif
  return F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
}

torch::Tensor GroupNormAct(const torch::Tensor& x, const torch::nn::GroupNormImpl& norm, bool silu,
                           const torch::Tensor& add) {
#ifdef EASEL_WITH_CUDA_KERNELS
  cuda::DType dtype;
  if (x.is_cuda() && x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
      KernelDType(x, &dtype) && FusedKernelsEnabled()) {
    const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
    const auto& opt = norm.options;
    if (opt.affine() && opt.num_channels() == c && Operand(norm.weight, x, {c}) &&
        Operand(norm.bias, x, {c}) && (!add.defined() || Operand(add, x, {n, c}))) {
      cuda::GroupNormArgs args;
      args.x = x.data_ptr();
      args.add = add.defined() ? add.data_ptr() : nullptr;
      args.gamma = norm.weight.data_ptr();
      args.beta = norm.bias.data_ptr();
      args.n = n;
      args.hw = hw;
      args.c = c;
      args.groups = opt.num_groups();
      args.eps = static_cast<float>(opt.eps());
      args.silu = silu;
      args.dtype = dtype;
      if (cuda::GroupNormNhwcSupports(args)) {
        const c10::cuda::CUDAGuard guard(x.device());
        torch::Tensor y = torch::empty_like(x, at::MemoryFormat::ChannelsLast);
        torch::Tensor workspace =
            torch::empty({static_cast<int64_t>(cuda::GroupNormWorkspaceFloats(n, args.groups))},
                         x.options().dtype(torch::kFloat32));
        args.y = y.data_ptr();
        args.workspace = workspace.data_ptr<float>();
        Check(cuda::GroupNormNhwc(args, c10::cuda::getCurrentCUDAStream().stream()), "GroupNorm");
        return y;
      }
    }
  }
#endif
  const torch::Tensor in = add.defined() ? x + add.unsqueeze(-1).unsqueeze(-1) : x;
  torch::Tensor y = F::group_norm(in, F::GroupNormFuncOptions(norm.options.num_groups())
                                          .weight(norm.weight)
                                          .bias(norm.bias)
                                          .eps(norm.options.eps()));
  return silu ? torch::silu(y) : y;
}

torch::Tensor GegluAct(const torch::Tensor& h, const torch::Tensor& bias) {
#ifdef EASEL_WITH_CUDA_KERNELS
  cuda::DType dtype;
  if (h.is_cuda() && h.dim() >= 1 && h.size(-1) % 2 == 0 && h.is_contiguous() &&
      KernelDType(h, &dtype) && FusedKernelsEnabled() &&
      (!bias.defined() || Operand(bias, h, {h.size(-1)}))) {
    const int64_t inner = h.size(-1) / 2;
    std::vector<int64_t> sizes = h.sizes().vec();
    sizes.back() = inner;
    const c10::cuda::CUDAGuard guard(h.device());
    torch::Tensor out = torch::empty(sizes, h.options());
    Check(cuda::Geglu(h.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr, out.data_ptr(),
                      inner == 0 ? 0 : out.numel() / inner, inner, dtype,
                      c10::cuda::getCurrentCUDAStream().stream()),
          "GEGLU");
    return out;
  }
#endif
  const std::vector<torch::Tensor> parts = (bias.defined() ? h + bias : h).chunk(2, /*dim=*/-1);
  return parts[0] * torch::gelu(parts[1]);
}

}  // namespace easel::engine

// Fused ops (src/engine/nets/fused_ops.h): on the CPU the ATen path must be exactly the ops it
// replaces; on a CUDA device of a build with Easel's kernels, the kernels must match a float64
// reference on every shape class the nets produce, and a UNet / VAE running them channels-last
// in fp16 must match the float32 CPU forward.
#include "engine/nets/fused_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

#include "engine/nets/unet.h"
#include "engine/nets/vae.h"
#include "ldm_test_shapes.h"

namespace easel::engine {
namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// Random values for every parameter, independent of how the modules initialise themselves:
// norm weights near 1, everything else ~ N(0, 1 / fan_in).
void Randomize(nn::Module& module, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    torch::Tensor p = item.value();
    if (p.dim() == 1 && item.key().find("norm") != std::string::npos && item.key().size() > 7 &&
        item.key().compare(item.key().size() - 7, 7, ".weight") == 0) {
      p.copy_(1.0 + 0.1 * torch::randn(p.sizes()));
    } else {
      const double fan_in = p.dim() > 1 ? static_cast<double>(p.numel() / p.size(0)) : 16.0;
      p.copy_(torch::randn(p.sizes()) / std::sqrt(fan_in));
    }
  }
}

double RelL2(const torch::Tensor& out, const torch::Tensor& ref) {
  const torch::Tensor o = out.to(torch::kCPU, torch::kFloat64), r = ref.to(torch::kFloat64);
  return ((o - r).norm() / r.norm()).item<double>();
}

bool CudaKernels() {
  return torch::cuda::is_available() && FusedKernelsEnabled();
}

// act(group_norm(x + add)) in float64 on the CPU.
torch::Tensor GroupNormReference(const torch::Tensor& x, const nn::GroupNorm& gn, bool silu,
                                 const torch::Tensor& add) {
  torch::Tensor v = x.to(torch::kCPU, torch::kFloat64);
  if (add.defined()) v = v + add.to(torch::kCPU, torch::kFloat64).unsqueeze(-1).unsqueeze(-1);
  torch::Tensor y = F::group_norm(v, F::GroupNormFuncOptions(gn->options.num_groups())
                                         .weight(gn->weight.to(torch::kCPU, torch::kFloat64))
                                         .bias(gn->bias.to(torch::kCPU, torch::kFloat64))
                                         .eps(gn->options.eps()));
  return silu ? torch::silu(y) : y;
}

TEST(FusedOps, AddShortcutFoldsTheShortcutBias) {
  // On the CPU (ATen path) the same values as the modules' own forwards, biases included.
  torch::manual_seed(2);
  torch::NoGradGuard no_grad;
  layers::Conv2d skip(torch::nn::Conv2dOptions(4, 6, 1));
  layers::InitLikeTorch(*skip);
  const torch::Tensor x = torch::randn({2, 4, 5, 3}), h = torch::randn({2, 6, 5, 3});
  const torch::Tensor h_bias = torch::randn({6});
  const torch::Tensor b = h_bias.view({1, 6, 1, 1});
  // float32, different summation order: 1e-6.
  EXPECT_TRUE(
      torch::allclose(AddShortcut(x, skip.get(), h, h_bias), skip->forward(x) + h + b, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(AddShortcut(x, skip.get(), h, {}), skip->forward(x) + h, 1e-6, 1e-6));
  const torch::Tensor y = torch::randn({2, 6, 5, 3});
  EXPECT_TRUE(torch::equal(AddShortcut(y, nullptr, h, h_bias), y + h + b));
}

TEST(FusedOps, CpuGroupNormActIsTheAtenOps) {
  torch::manual_seed(1);
  nn::GroupNorm gn(nn::GroupNormOptions(32, 64).eps(1e-6));
  Randomize(*gn, 2);
  const torch::Tensor x = torch::randn({2, 64, 5, 7});
  const torch::Tensor add = torch::randn({2, 64});
  torch::NoGradGuard no_grad;
  // Bit-for-bit: the fallback is the same ATen calls in the same order.
  EXPECT_TRUE(torch::equal(GroupNormAct(x, *gn, true, add),
                           torch::silu(gn->forward(x + add.view({2, 64, 1, 1})))));
  EXPECT_TRUE(torch::equal(GroupNormAct(x, *gn, false), gn->forward(x)));
}

TEST(FusedOps, CpuGegluIsChunkGeluMul) {
  torch::manual_seed(1);
  const torch::Tensor h = torch::randn({2, 9, 2 * 24});
  const auto parts = h.chunk(2, -1);
  EXPECT_TRUE(torch::equal(GegluAct(h), parts[0] * torch::gelu(parts[1])));
  const torch::Tensor bias = torch::randn({2 * 24});
  const auto biased = (h + bias).chunk(2, -1);
  EXPECT_TRUE(torch::equal(GegluAct(h, bias), biased[0] * torch::gelu(biased[1])));
}

TEST(FusedOps, CpuResidualAddIsTheAtenOps) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({2, 8, 3, 5}), h = torch::randn({2, 8, 3, 5});
  const torch::Tensor bias = torch::randn({8});
  EXPECT_FALSE(UseFusedPath(x));
  EXPECT_TRUE(torch::equal(ResidualAdd(x, h), x + h));
  EXPECT_TRUE(torch::equal(ResidualAdd(x, h, bias), x + h + bias.view({1, 8, 1, 1})));
  const torch::Tensor t = torch::randn({2, 7, 8}), u = torch::randn({2, 7, 8});
  EXPECT_TRUE(torch::equal(ResidualAdd(t, u, bias), t + u + bias));
}

// Per dtype: relative L2 error vs float64 (output rounding: fp16 2^-11, bf16 2^-8 per element,
// so ~0.6x that over many elements; f32: reduction order only) and the largest absolute error
// (outputs are O(1..5): a few units in the last place of the output type).
struct Tol {
  torch::Dtype dtype;
  double rel_l2, max_abs;
};
const std::vector<Tol> kTolerances = {
    {torch::kFloat32, 1e-5, 1e-4}, {torch::kFloat16, 1e-3, 1e-2}, {torch::kBFloat16, 6e-3, 6e-2}};

TEST(FusedOps, CudaGroupNormMatchesFloat64) {
  if (!CudaKernels()) GTEST_SKIP() << "needs a CUDA device and a build with Easel's CUDA kernels";
  torch::NoGradGuard no_grad;
  // (N, C, H, W, groups): the UNet's (C / 32 = 10, 20, 40), the VAE's (4, 8, 16), large HW,
  // one pixel, odd group sizes (vector width 1) and a non-default group count.
  const std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>> shapes = {
      {2, 320, 64, 64, 32}, {2, 640, 32, 32, 32},  {2, 1280, 8, 8, 32}, {1, 128, 256, 256, 32},
      {1, 512, 64, 64, 32}, {1, 256, 128, 96, 32}, {4, 1280, 1, 1, 32}, {3, 96, 7, 5, 32},
      {2, 60, 9, 11, 4},    {1, 2560, 16, 16, 32}};
  int seed = 10;
  for (const auto& [n, c, h, w, groups] : shapes)
    for (const Tol& tol : kTolerances)
      for (bool with_add : {false, true}) {
        const bool silu = with_add || c % 3 == 0;
        torch::manual_seed(++seed);
        nn::GroupNorm gn(nn::GroupNormOptions(groups, c).eps(1e-5));
        Randomize(*gn, seed);
        gn->to(torch::kCUDA, tol.dtype);
        // Fresh random data with a per-channel offset (groups with a mean far from 0).
        const torch::Tensor x = (torch::randn({n, c, h, w}) * 2 + torch::randn({1, c, 1, 1}) * 3)
                                    .to(torch::kCUDA, tol.dtype)
                                    .contiguous(torch::MemoryFormat::ChannelsLast);
        const torch::Tensor add =
            with_add ? torch::randn({n, c}).to(torch::kCUDA, tol.dtype) : torch::Tensor();
        const torch::Tensor y = GroupNormAct(x, *gn, silu, add);
        const std::string what = "N " + std::to_string(n) + " C " + std::to_string(c) + " HW " +
                                 std::to_string(h) + "x" + std::to_string(w) + " dtype " +
                                 std::string(c10::toString(tol.dtype)) + (with_add ? " +add" : "") +
                                 (silu ? " silu" : "");
        ASSERT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what;
        ASSERT_EQ(y.scalar_type(), tol.dtype) << what;
        const torch::Tensor ref = GroupNormReference(x, gn, silu, add);
        const torch::Tensor yc = y.to(torch::kCPU, torch::kFloat64);
        ASSERT_TRUE(torch::isfinite(yc).all().item<bool>()) << what;
        EXPECT_LT(RelL2(y, ref), tol.rel_l2) << what;
        EXPECT_LT((yc - ref).abs().max().item<double>(), tol.max_abs) << what;
        // Deterministic: a second run gives the same bits.
        EXPECT_TRUE(torch::equal(GroupNormAct(x, *gn, silu, add), y)) << what;
      }
}

TEST(FusedOps, CudaGroupNormLargeMeanKeepsPrecision) {
  if (!CudaKernels()) GTEST_SKIP() << "needs a CUDA device and a build with Easel's CUDA kernels";
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  nn::GroupNorm gn(nn::GroupNormOptions(32, 128).eps(1e-6));
  Randomize(*gn, 5);
  gn->to(torch::kCUDA);
  // Mean 1000 and spread 1 in float32: E[x^2] - E[x]^2 unshifted would lose ~6 digits.
  const torch::Tensor x = (torch::randn({1, 128, 128, 128}) + 1000.0)
                              .to(torch::kCUDA)
                              .contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor y = GroupNormAct(x, *gn, false);
  // The input is float32 with ulp 6e-5 at 1000: that is the error floor of (x - mean).
  EXPECT_LT(RelL2(y, GroupNormReference(x, gn, false, {})), 2e-4);
}

TEST(FusedOps, CudaNchwAndOtherDtypesTakeTheAtenPath) {
  if (!CudaKernels()) GTEST_SKIP() << "needs a CUDA device and a build with Easel's CUDA kernels";
  torch::NoGradGuard no_grad;
  torch::manual_seed(6);
  nn::GroupNorm gn(nn::GroupNormOptions(32, 64));
  Randomize(*gn, 6);
  gn->to(torch::kCUDA);
  const torch::Tensor x = torch::randn({2, 64, 8, 8}).cuda();  // NCHW
  EXPECT_TRUE(torch::equal(GroupNormAct(x, *gn, true), torch::silu(gn->forward(x))));
}

TEST(FusedOps, CudaGegluMatchesFloat64) {
  if (!CudaKernels()) GTEST_SKIP() << "needs a CUDA device and a build with Easel's CUDA kernels";
  torch::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 4096, 2 * 1280}, {2, 1024, 2 * 5120}, {3, 77, 2 * 40}, {5, 2 * 5}, {1, 3, 2 * 3}};
  int seed = 40;
  for (const auto& shape : shapes)
    for (const Tol& tol : kTolerances) {
      torch::manual_seed(++seed);
      const torch::Tensor h = (torch::randn(shape) * 2).to(torch::kCUDA, tol.dtype);
      // Every other shape with the projection's bias folded in.
      const torch::Tensor bias =
          seed % 2 ? torch::randn({shape.back()}).to(torch::kCUDA, tol.dtype) : torch::Tensor();
      const torch::Tensor out = GegluAct(h, bias);
      torch::Tensor h64 = h.to(torch::kCPU, torch::kFloat64);
      if (bias.defined()) h64 = h64 + bias.to(torch::kCPU, torch::kFloat64);
      const auto parts = h64.chunk(2, -1);
      const torch::Tensor ref = parts[0] * torch::gelu(parts[1]);
      const std::string what = "shape " + std::to_string(shape[0]) + "x.. last " +
                               std::to_string(shape.back()) + " " + c10::toString(tol.dtype);
      ASSERT_EQ(out.sizes(), ref.sizes()) << what;
      const torch::Tensor oc = out.to(torch::kCPU, torch::kFloat64);
      ASSERT_TRUE(torch::isfinite(oc).all().item<bool>()) << what;
      EXPECT_LT(RelL2(out, ref), tol.rel_l2) << what;
      // |out| reaches ~20 here: the max error scales with it.
      EXPECT_LT((oc - ref).abs().max().item<double>(), 4 * tol.max_abs) << what;
    }
}

TEST(FusedOps, CudaResidualAddMatchesFloat64) {
  if (!CudaKernels()) GTEST_SKIP() << "needs a CUDA device and a build with Easel's CUDA kernels";
  torch::NoGradGuard no_grad;
  int seed = 70;
  // Channels-last images (channels = dim 1) and token tensors (channels = last dim); odd widths.
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 320, 64, 64}, {1, 128, 33, 17}, {2, 4096, 640}, {3, 77, 5}, {2, 3, 7, 9}};
  for (const auto& shape : shapes)
    for (const Tol& tol : kTolerances)
      for (bool with_bias : {false, true}) {
        torch::manual_seed(++seed);
        const bool image = shape.size() == 4;
        const auto format =
            image ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
        const int64_t c = image ? shape[1] : shape.back();
        const torch::Tensor x = torch::randn(shape).to(torch::kCUDA, tol.dtype).contiguous(format);
        const torch::Tensor h = torch::randn(shape).to(torch::kCUDA, tol.dtype).contiguous(format);
        const torch::Tensor bias =
            with_bias ? torch::randn({c}).to(torch::kCUDA, tol.dtype) : torch::Tensor();
        const torch::Tensor out = ResidualAdd(x, h, bias);
        torch::Tensor ref = x.to(torch::kCPU, torch::kFloat64) + h.to(torch::kCPU, torch::kFloat64);
        if (with_bias) {
          const torch::Tensor b = bias.to(torch::kCPU, torch::kFloat64);
          ref = ref + (image ? b.view({1, c, 1, 1}) : b);
        }
        const std::string what = "shape " + std::to_string(shape[0]) + "x" +
                                 std::to_string(shape[1]) + ".. " + c10::toString(tol.dtype) +
                                 (with_bias ? " +bias" : "");
        ASSERT_TRUE(out.is_contiguous(format)) << what;
        const torch::Tensor oc = out.to(torch::kCPU, torch::kFloat64);
        ASSERT_TRUE(torch::isfinite(oc).all().item<bool>()) << what;
        EXPECT_LT(RelL2(out, ref), tol.rel_l2) << what;
        EXPECT_LT((oc - ref).abs().max().item<double>(), 2 * tol.max_abs) << what;
      }
  // Mixed layouts take the ATen path (and still add correctly).
  const torch::Tensor a = torch::randn({2, 8, 4, 4}).cuda();
  const torch::Tensor b =
      torch::randn({2, 8, 4, 4}).cuda().contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_TRUE(torch::allclose(ResidualAdd(a, b), a + b));
}

TEST(FusedOps, UpsampleNearestIsInterpolate) {
  // A copy, so exact on every device and path: 2x (the kernel on CUDA, channels-last), other
  // sizes and NCHW (ATen), each dtype.
  auto interpolate = [](const torch::Tensor& x, std::vector<int64_t> size) {
    return F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
  };
  std::vector<torch::Device> devices = {torch::kCPU};
  if (CudaKernels()) devices.push_back(torch::kCUDA);
  torch::manual_seed(9);
  for (const torch::Device& device : devices)
    for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
      // libtorch 1.13 has no half-precision nearest resize on the CPU.
      if (device.is_cpu() && dtype != torch::kFloat32) continue;
      for (const auto& [shape, size] :
           std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
               {{2, 320, 16, 16}, {32, 32}},
               {{1, 512, 64, 48}, {128, 96}},
               {{3, 6, 5, 7}, {10, 14}},
               {{2, 640, 15, 15}, {31, 31}}}) {
        const torch::Tensor x =
            torch::randn(shape).to(device, dtype).contiguous(torch::MemoryFormat::ChannelsLast);
        const torch::Tensor y = UpsampleNearest(x, size);
        EXPECT_TRUE(torch::equal(y, interpolate(x, size)))
            << device << " " << c10::toString(dtype) << " C " << shape[1];
        EXPECT_TRUE(
            torch::equal(UpsampleNearest(x.contiguous(), size), interpolate(x.contiguous(), size)));
      }
    }
}

// The wiring: a tiny SD-style UNet and VAE, float32 on the CPU vs fp16 channels-last on CUDA
// (kernels used for every GroupNorm and GEGLU). fp16 through ~40 layers: rel-L2 ~1e-3; 1e-2.
TEST(FusedOps, CudaUnetAndVaeMatchCpu) {
  if (!CudaKernels()) GTEST_SKIP() << "needs a CUDA device and a build with Easel's CUDA kernels";
  torch::NoGradGuard no_grad;
  testing::LdmUnetSpec s;
  s.model_channels = 64;
  s.context = 32;
  UNet unet(UNetConfig::FromWeights(testing::LdmUnetShapes(s), HeadRule::Heads(4)));
  unet->eval();
  Randomize(*unet, 7);
  torch::manual_seed(8);
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  const torch::Tensor t = torch::tensor({10.0f, 500.0f});
  const torch::Tensor ctx = torch::randn({2, 77, 32});
  const torch::Tensor ref = unet->forward(x, t, ctx, {});
  unet->to(torch::kCUDA, torch::kFloat16);
  for (auto& p : unet->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  const torch::Tensor out = unet->forward(
      x.to(torch::kCUDA, torch::kFloat16).contiguous(torch::MemoryFormat::ChannelsLast),
      t.to(torch::kCUDA, torch::kFloat16), ctx.to(torch::kCUDA, torch::kFloat16), {});
  EXPECT_LT(RelL2(out, ref), 1e-2);

  testing::LdmVaeSpec vs;
  vs.ch = 32;
  vs.mult = {1, 2, 2};
  vs.res_blocks = 1;
  Vae vae(VaeConfig::FromWeights(testing::LdmVaeShapes(vs)));
  vae->eval();
  Randomize(*vae, 9);
  const torch::Tensor z = torch::randn({1, 4, 12, 16});
  const torch::Tensor img = vae->Decode(z);
  vae->to(torch::kCUDA, torch::kFloat16);
  for (auto& p : vae->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  const torch::Tensor img_cuda = vae->Decode(
      z.to(torch::kCUDA, torch::kFloat16).contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LT(RelL2(img_cuda, img), 1e-2);
}

}  // namespace
}  // namespace easel::engine

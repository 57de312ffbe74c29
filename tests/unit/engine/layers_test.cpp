// nets/layers: the uninitialised Linear / Conv2d / Embedding compute exactly what torch's
// layers compute with the same weights, carry the same parameter names and shapes, and
// InitLikeTorch gives them torch's initial value ranges.
#include "engine/nets/layers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace easel::engine {
namespace {

namespace nn = torch::nn;

// Copies every parameter of `from` into the same name of `to` (shapes must agree).
void CopyParameters(nn::Module& from, nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto dst = to.named_parameters();
  auto src = from.named_parameters();
  ASSERT_EQ(dst.size(), src.size());
  for (const auto& p : src) {
    ASSERT_TRUE(dst.contains(p.key())) << p.key();
    ASSERT_EQ(dst[p.key()].sizes(), p.value().sizes()) << p.key();
    dst[p.key()].copy_(p.value());
  }
}

TEST(Layers, LinearMatchesTorch) {
  torch::manual_seed(0);
  for (bool bias : {true, false}) {
    nn::Linear ref(nn::LinearOptions(5, 3).bias(bias));
    layers::Linear ours(nn::LinearOptions(5, 3).bias(bias));
    CopyParameters(*ref, *ours);
    const torch::Tensor x = torch::randn({2, 4, 5});
    // Same call (F::linear) on the same tensors: bit for bit.
    EXPECT_TRUE(torch::equal(ours(x), ref(x))) << "bias " << bias;
  }
}

TEST(Layers, Conv2dMatchesTorch) {
  torch::manual_seed(1);
  const std::vector<nn::Conv2dOptions> cases = {
      nn::Conv2dOptions(4, 6, 3).padding(1), nn::Conv2dOptions(4, 4, 3).stride(2).padding(1),
      nn::Conv2dOptions(4, 8, 1), nn::Conv2dOptions(4, 6, 3).stride(2).bias(false),
      nn::Conv2dOptions(4, 8, 3).groups(2).dilation(2).padding(2)};
  for (const auto& options : cases) {
    nn::Conv2d ref(options);
    layers::Conv2d ours(options);
    CopyParameters(*ref, *ours);
    const torch::Tensor x = torch::randn({2, 4, 9, 7});
    EXPECT_TRUE(torch::equal(ours(x), ref(x))) << ref;
  }
  EXPECT_THROW(layers::Conv2d(nn::Conv2dOptions(4, 4, 3).padding_mode(torch::kReflect)),
               c10::Error);
}

TEST(Layers, EmbeddingMatchesTorch) {
  torch::manual_seed(2);
  nn::Embedding ref(10, 4);
  layers::Embedding ours(10, 4);
  CopyParameters(*ref, *ours);
  const torch::Tensor ids = torch::tensor({{0, 9, 3}, {3, 3, 1}}, torch::kInt64);
  EXPECT_TRUE(torch::equal(ours(ids), ref(ids)));
}

TEST(Layers, InitLikeTorchUsesTorchRanges) {
  torch::manual_seed(3);
  auto net = std::make_shared<nn::Module>();
  auto fc = net->register_module("fc", layers::Linear(400, 8));
  auto conv = net->register_module("conv", layers::Conv2d(nn::Conv2dOptions(4, 8, 5)));
  auto emb = net->register_module("emb", layers::Embedding(1000, 64));
  layers::InitLikeTorch(*net);
  // U(-b, b) with b = 1/sqrt(fan_in): fan_in 400 for fc, 4*5*5 = 100 for conv.
  auto within = [](const torch::Tensor& t, double bound) {
    return t.abs().max().item<double>() <= bound && t.abs().max().item<double>() > 0.5 * bound;
  };
  EXPECT_TRUE(within(fc->weight, 1.0 / std::sqrt(400.0)));
  EXPECT_TRUE(within(fc->bias, 1.0 / std::sqrt(400.0)));
  EXPECT_TRUE(within(conv->weight, 0.1));
  EXPECT_TRUE(within(conv->bias, 0.1));
  // N(0, 1): 64000 draws.
  EXPECT_NEAR(emb->weight.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(emb->weight.std().item<double>(), 1.0, 0.05);
}

}  // namespace
}  // namespace easel::engine

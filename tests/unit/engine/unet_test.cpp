// UNet config detection from weight shapes, module naming, odd latent sizes, error paths.
#include "engine/nets/unet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/blocks.h"
#include "engine/nets/layers.h"
#include "ldm_test_shapes.h"

namespace easel::engine {
namespace {

using testing::LdmUnetShapes;
using testing::LdmUnetSpec;

std::vector<int64_t> V(std::initializer_list<int64_t> v) {
  return v;
}

// A tiny UNet with the SD1 topology (4 levels, attention at 0-2) for forward tests.
LdmUnetSpec TinySpec(bool linear) {
  LdmUnetSpec s;
  s.model_channels = 32;
  s.context = 16;
  s.linear = linear;
  return s;
}

TEST(UNetConfig, DetectsSd15) {
  const UNetConfig c = UNetConfig::FromWeights(LdmUnetShapes({}), HeadRule::Heads(8));
  EXPECT_EQ(c.in_channels, 4);
  EXPECT_EQ(c.out_channels, 4);
  EXPECT_EQ(c.model_channels, 320);
  EXPECT_EQ(c.time_embed_dim, 1280);
  EXPECT_EQ(c.channel_mult, V({1, 2, 4, 4}));
  EXPECT_EQ(c.num_res_blocks, V({2, 2, 2, 2}));
  EXPECT_EQ(c.input_depth, V({1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(c.output_depth, V({0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(c.middle_depth, 1);
  EXPECT_EQ(c.heads, V({8, 8, 8, 8}));
  EXPECT_EQ(c.context_dim, 768);
  EXPECT_FALSE(c.use_linear_proj);
  EXPECT_EQ(c.adm_in_channels, 0);
  EXPECT_EQ(c.DownFactor(), 8);
}

TEST(UNetConfig, DetectsSd2) {
  LdmUnetSpec s;
  s.context = 1024;
  s.linear = true;
  const UNetConfig c = UNetConfig::FromWeights(LdmUnetShapes(s), HeadRule::HeadDim(64));
  EXPECT_EQ(c.model_channels, 320);
  EXPECT_EQ(c.channel_mult, V({1, 2, 4, 4}));
  EXPECT_EQ(c.context_dim, 1024);
  EXPECT_TRUE(c.use_linear_proj);
  // 320/64, 640/64, 1280/64; the last level's middle transformer uses 1280/64 too.
  EXPECT_EQ(c.heads, V({5, 10, 20, 20}));
  // The same model described by diffusers' config (attention_head_dim = heads per level).
  const UNetConfig d =
      UNetConfig::FromWeights(LdmUnetShapes(s), HeadRule::PerLevelHeads({5, 10, 20, 20}));
  EXPECT_EQ(d.heads, c.heads);
}

TEST(UNetConfig, MissingAndInconsistentKeysAreErrors) {
  StateDict d = LdmUnetShapes({});
  d.erase("time_embed.0.weight");
  try {
    (void)UNetConfig::FromWeights(d, HeadRule::Heads(8));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kCorrupt);
    EXPECT_NE(e.status().message().find("time_embed.0.weight"), std::string::npos);
  }
  // A missing output block: the count no longer matches the input blocks.
  d = LdmUnetShapes({});
  for (auto it = d.begin(); it != d.end();) {
    it = it->first.rfind("output_blocks.11.", 0) == 0 ? d.erase(it) : std::next(it);
  }
  EXPECT_THROW((void)UNetConfig::FromWeights(d, HeadRule::Heads(8)), Error);
  // A missing Upsample.
  d = LdmUnetShapes({});
  d.erase("output_blocks.2.1.conv.weight");
  EXPECT_THROW((void)UNetConfig::FromWeights(d, HeadRule::Heads(8)), Error);
  // Not a UNet at all.
  EXPECT_THROW((void)UNetConfig::FromWeights(StateDict{}, HeadRule::Heads(8)), Error);
}

TEST(HeadRule, SplitsOrComplains) {
  EXPECT_EQ(HeadRule::Heads(8).HeadsFor(320, 0), 8);
  EXPECT_EQ(HeadRule::HeadDim(64).HeadsFor(640, 1), 10);
  EXPECT_EQ(HeadRule::PerLevelHeads({1, 2}).HeadsFor(64, 1), 2);
  EXPECT_THROW(HeadRule::HeadDim(64).HeadsFor(96, 0), Error);
  EXPECT_THROW(HeadRule::Heads(7).HeadsFor(320, 0), Error);
  EXPECT_THROW(HeadRule::PerLevelHeads({1}).HeadsFor(64, 1), Error);
}

// The module's parameter names and shapes are exactly the checkpoint's.
TEST(UNet, ParametersMirrorLdmKeys) {
  for (bool linear : {false, true}) {
    const StateDict d = LdmUnetShapes(TinySpec(linear));
    UNet unet(UNetConfig::FromWeights(d, HeadRule::Heads(8)));
    EXPECT_EQ(testing::ModuleShapes(*unet), testing::DictShapes(d)) << "linear " << linear;
  }
}

TEST(UNet, OddLatentSizesKeepTheirShape) {
  torch::manual_seed(0);
  UNet unet(UNetConfig::FromWeights(LdmUnetShapes(TinySpec(false)), HeadRule::Heads(8)));
  layers::InitLikeTorch(*unet);
  unet->eval();
  torch::NoGradGuard no_grad;
  for (auto hw : {std::pair<int64_t, int64_t>{9, 7}, {8, 8}, {5, 11}}) {
    torch::Tensor x = torch::randn({2, 4, hw.first, hw.second});
    torch::Tensor t = torch::tensor({999.0f, 1.5f});
    torch::Tensor ctx = torch::randn({2, 77, 16});
    torch::Tensor out = unet->forward(x, t, ctx);
    EXPECT_EQ(out.sizes(), x.sizes());
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
}

TEST(UNet, RejectsWrongInputShapes) {
  UNet unet(UNetConfig::FromWeights(LdmUnetShapes(TinySpec(false)), HeadRule::Heads(8)));
  torch::NoGradGuard no_grad;
  const torch::Tensor t = torch::tensor({1.0f});
  EXPECT_THROW(unet->forward(torch::zeros({1, 3, 8, 8}), t, torch::zeros({1, 77, 16})), Error);
  EXPECT_THROW(unet->forward(torch::zeros({1, 4, 8, 8}), t, torch::zeros({1, 77, 15})), Error);
  EXPECT_THROW(
      unet->forward(torch::zeros({1, 4, 8, 8}), torch::zeros({2}), torch::zeros({1, 77, 16})),
      Error);
}

TEST(UNet, LoadingReportsMissingKeys) {
  StateDict d = LdmUnetShapes(TinySpec(false));
  UNet unet(UNetConfig::FromWeights(d, HeadRule::Heads(8)));
  for (auto& [k, v] : d) v = torch::zeros(v.sizes());
  d.erase("output_blocks.3.1.transformer_blocks.0.attn2.to_k.weight");
  Status st = LoadIntoModule(*unet, d, "test UNet");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("output_blocks.3.1.transformer_blocks.0.attn2.to_k.weight"),
            std::string::npos)
      << st.ToString();
}

TEST(TimestepEmbedding, CosThenSin) {
  torch::Tensor e = TimestepEmbedding(torch::tensor({0.0f, 10.0f}), 8);
  ASSERT_EQ(e.sizes(), torch::IntArrayRef({2, 8}));
  // t = 0: cos = 1, sin = 0.
  EXPECT_TRUE(torch::allclose(e[0], torch::tensor({1.f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f})));
  // f_i = 10000^(-i/4); t = 10
  for (int i = 0; i < 4; ++i) {
    const double arg = 10.0 * std::pow(10000.0, -i / 4.0);
    EXPECT_NEAR(e[1][i].item<float>(), std::cos(arg), 1e-5);
    EXPECT_NEAR(e[1][4 + i].item<float>(), std::sin(arg), 1e-5);
  }
}

}  // namespace
}  // namespace easel::engine

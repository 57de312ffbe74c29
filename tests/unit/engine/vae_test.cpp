// VAE config detection from weight shapes, module naming, attention weight shapes, errors.
#include "engine/nets/vae.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/layers.h"
#include "ldm_test_shapes.h"

namespace easel::engine {
namespace {

using testing::LdmVaeShapes;
using testing::LdmVaeSpec;

LdmVaeSpec TinySpec() {
  LdmVaeSpec s;
  s.ch = 32;
  s.mult = {1, 1, 2, 2};
  s.res_blocks = 1;
  return s;
}

TEST(VaeConfig, DetectsSdVae) {
  const VaeConfig c = VaeConfig::FromWeights(LdmVaeShapes({}));
  EXPECT_EQ(c.channels, 128);
  EXPECT_EQ(c.channel_mult, std::vector<int64_t>({1, 2, 4, 4}));
  EXPECT_EQ(c.num_res_blocks, 2);
  EXPECT_EQ(c.z_channels, 4);
  EXPECT_EQ(c.embed_dim, 4);
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.out_channels, 3);
  EXPECT_TRUE(c.has_quant_conv);
  EXPECT_EQ(c.DownFactor(), 8);
}

TEST(VaeConfig, MissingKeysAreErrors) {
  StateDict d = LdmVaeShapes({});
  d.erase("decoder.conv_in.weight");
  try {
    (void)VaeConfig::FromWeights(d);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kCorrupt);
    EXPECT_NE(e.status().message().find("decoder.conv_in.weight"), std::string::npos);
  }
  EXPECT_THROW((void)VaeConfig::FromWeights(StateDict{}), Error);
}

TEST(Vae, ParametersMirrorLdmKeys) {
  const StateDict d = LdmVaeShapes(TinySpec());
  Vae vae(VaeConfig::FromWeights(d));
  EXPECT_EQ(testing::ModuleShapes(*vae), testing::DictShapes(d));
}

TEST(Vae, LinearShapedAttentionLoads) {
  LdmVaeSpec s = TinySpec();
  s.linear_attention = true;
  StateDict d = LdmVaeShapes(s);
  for (auto& [k, v] : d) v = torch::randn(v.sizes());
  Vae vae(VaeConfig::FromWeights(d));
  ASSERT_TRUE(LoadVaeWeights(*vae, d, "test VAE").ok());
  const torch::Tensor q = vae->named_parameters()["encoder.mid.attn_1.q.weight"];
  EXPECT_EQ(q.sizes(), torch::IntArrayRef({64, 64, 1, 1}));
  EXPECT_TRUE(torch::equal(q.flatten(1), d.at("encoder.mid.attn_1.q.weight")));
}

TEST(Vae, EncodeDecodeShapes) {
  torch::manual_seed(0);
  Vae vae(VaeConfig::FromWeights(LdmVaeShapes(TinySpec())));
  layers::InitLikeTorch(*vae);
  torch::NoGradGuard no_grad;
  const torch::Tensor image = torch::rand({2, 3, 64, 48}) * 2 - 1;
  const VaePosterior p = vae->EncodeParams(image);
  EXPECT_EQ(p.mean.sizes(), torch::IntArrayRef({2, 4, 8, 6}));
  EXPECT_EQ(p.logvar.sizes(), p.mean.sizes());
  EXPECT_TRUE(torch::equal(vae->Encode(image), p.mean));
  EXPECT_EQ(vae->Decode(p.mean).sizes(), image.sizes());
  EXPECT_THROW(vae->Encode(torch::zeros({1, 3, 60, 64})), Error);
  EXPECT_THROW(vae->Decode(torch::zeros({1, 3, 8, 8})), Error);
}

}  // namespace
}  // namespace easel::engine

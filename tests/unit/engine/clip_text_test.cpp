// CLIP text encoder: config from weights, HF name normalisation, the OpenCLIP -> HF conversion
// (checked by a round trip through a random model), clip skip semantics and input checks.
// Numerics against transformers are in tests/golden/clip_text_golden_test.cpp.
#include "engine/nets/clip_text.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/layers.h"

namespace easel::engine {
namespace {

ClipTextConfig TinyConfig(int64_t layers, ClipActivation act = ClipActivation::kGelu) {
  ClipTextConfig c;
  c.vocab_size = 50;
  c.hidden = 8;
  c.layers = layers;
  c.max_positions = 77;
  c.intermediate = 12;
  c.heads = 2;
  c.activation = act;
  return c;
}

// A random model's weights, every parameter away from its init (norms included).
StateDict RandomWeights(const ClipTextConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  ClipTextModel m(c);
  layers::InitLikeTorch(*m);
  StateDict out;
  for (const auto& p : m->named_parameters())
    out[p.key()] = p.value().detach() + 0.1 * torch::randn(p.value().sizes());
  return out;
}

ClipTextModel Loaded(const ClipTextConfig& c, const StateDict& w) {
  ClipTextModel m(c);
  Status st = LoadIntoModule(*m, w, "test CLIP");
  EXPECT_TRUE(st.ok()) << st.ToString();
  return m;
}

torch::Tensor Ids() {
  return torch::tensor({{0, 5, 9, 49, 1, 1, 1}, {0, 3, 3, 2, 1, 7, 8}}, torch::kInt64);
}

TEST(ClipText, ModuleNamesMatchTransformers) {
  ClipTextModel m(TinyConfig(2));
  std::set<std::string> names;
  for (const auto& p : m->named_parameters()) names.insert(p.key());
  for (const char* n :
       {"embeddings.token_embedding.weight", "embeddings.position_embedding.weight",
        "encoder.layers.0.self_attn.q_proj.weight", "encoder.layers.1.self_attn.out_proj.bias",
        "encoder.layers.0.layer_norm1.weight", "encoder.layers.1.layer_norm2.bias",
        "encoder.layers.0.mlp.fc1.weight", "encoder.layers.1.mlp.fc2.bias",
        "final_layer_norm.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(names.size(), 2u + 2 * 16 + 2);
  EXPECT_TRUE(m->named_buffers().is_empty());
}

TEST(ClipText, ConfigFromWeights) {
  StateDict w = RandomWeights(TinyConfig(3), 1);
  auto c = ClipTextConfig::FromWeights(w, ClipActivation::kQuickGelu, 2);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->vocab_size, 50);
  EXPECT_EQ(c->hidden, 8);
  EXPECT_EQ(c->layers, 3);
  EXPECT_EQ(c->max_positions, 77);
  EXPECT_EQ(c->intermediate, 12);
  EXPECT_EQ(c->heads, 2);
  EXPECT_EQ(c->activation, ClipActivation::kQuickGelu);

  // The width/64 rule cannot split 8 channels: the message says to pass heads.
  auto rule = ClipTextConfig::FromWeights(w, ClipActivation::kGelu);
  ASSERT_FALSE(rule.ok());
  EXPECT_NE(rule.status().message().find("pass the number of attention heads"), std::string::npos);
  // Real widths follow it: CLIP-L 768 -> 12 heads, OpenCLIP-H 1024 -> 16.
  StateDict real = {{"embeddings.token_embedding.weight", torch::zeros({1, 1024})},
                    {"embeddings.position_embedding.weight", torch::zeros({77, 1024})},
                    {"encoder.layers.0.layer_norm1.weight", torch::zeros({1024})},
                    {"encoder.layers.0.mlp.fc1.weight", torch::zeros({4096, 1024})}};
  EXPECT_EQ(ClipTextConfig::FromWeights(real, ClipActivation::kGelu)->heads, 16);

  StateDict broken = w;
  broken.erase("embeddings.position_embedding.weight");
  auto missing = ClipTextConfig::FromWeights(broken, ClipActivation::kGelu, 2);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("embeddings.position_embedding.weight"),
            std::string::npos);
}

TEST(ClipText, NormalizeHfNamesStripsPrefixAndDropsExtras) {
  StateDict hf = {{"text_model.embeddings.token_embedding.weight", torch::zeros({2, 2})},
                  {"text_model.embeddings.position_ids", torch::zeros({1, 77}, torch::kInt64)},
                  {"text_model.final_layer_norm.weight", torch::zeros({2})},
                  {"text_projection.weight", torch::zeros({2, 2})}};
  StateDict n = NormalizeHfClipText(hf);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_TRUE(n.count("embeddings.token_embedding.weight"));
  EXPECT_TRUE(n.count("final_layer_norm.weight"));
  // Already stripped names pass through.
  EXPECT_EQ(NormalizeHfClipText(n).size(), 2u);
}

// Builds the OpenCLIP layout of HF weights (q/k/v stacked into in_proj) the way OpenCLIP
// stores it, plus text_projection and logit_scale.
StateDict ToOpenClip(const StateDict& hf, int64_t layers) {
  StateDict oc;
  oc["token_embedding.weight"] = hf.at("embeddings.token_embedding.weight");
  oc["positional_embedding"] = hf.at("embeddings.position_embedding.weight");
  oc["ln_final.weight"] = hf.at("final_layer_norm.weight");
  oc["ln_final.bias"] = hf.at("final_layer_norm.bias");
  oc["text_projection"] = torch::randn({8, 8});
  oc["logit_scale"] = torch::tensor(4.6);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string h = "encoder.layers." + std::to_string(i) + ".";
    const std::string o = "transformer.resblocks." + std::to_string(i) + ".";
    for (const char* leaf : {"weight", "bias"}) {
      const std::string l = leaf;
      oc[o + "attn.in_proj_" + l] =
          torch::cat({hf.at(h + "self_attn.q_proj." + l), hf.at(h + "self_attn.k_proj." + l),
                      hf.at(h + "self_attn.v_proj." + l)});
      oc[o + "attn.out_proj." + l] = hf.at(h + "self_attn.out_proj." + l);
      oc[o + "ln_1." + l] = hf.at(h + "layer_norm1." + l);
      oc[o + "ln_2." + l] = hf.at(h + "layer_norm2." + l);
      oc[o + "mlp.c_fc." + l] = hf.at(h + "mlp.fc1." + l);
      oc[o + "mlp.c_proj." + l] = hf.at(h + "mlp.fc2." + l);
    }
  }
  return oc;
}

TEST(ClipText, OpenClipToHfRoundTripDropsTheLastLayers) {
  const StateDict hf3 = RandomWeights(TinyConfig(3), 2);
  const StateDict oc = ToOpenClip(hf3, 3);
  for (int drop : {0, 1, 2}) {
    SCOPED_TRACE(drop);
    StateDict conv = OpenClipToHf(oc, drop);
    size_t expected = 0;
    for (const auto& [k, v] : hf3) {
      if (k.rfind("encoder.layers.", 0) == 0 && std::stoi(k.substr(15)) >= 3 - drop) continue;
      ++expected;
      ASSERT_TRUE(conv.count(k)) << k;
      EXPECT_TRUE(torch::equal(conv.at(k), v)) << k;
    }
    EXPECT_EQ(conv.size(), expected);  // text_projection and logit_scale are gone
  }
  EXPECT_THROW(OpenClipToHf(oc, 3), Error);
  EXPECT_THROW(OpenClipToHf({}, 0), Error);
}

TEST(ClipText, ClipSkipIsTheTruncatedModel) {
  // clip_skip 2 on 3 layers == clip_skip 1 on the first 2 layers (same final_layer_norm):
  // the semantics of transformers' hidden_states[-2] + final_layer_norm.
  const StateDict w3 = RandomWeights(TinyConfig(3), 3);
  StateDict w2;
  for (const auto& [k, v] : w3)
    if (k.rfind("encoder.layers.2.", 0) != 0) w2[k] = v;
  ClipTextModel m3 = Loaded(TinyConfig(3), w3), m2 = Loaded(TinyConfig(2), w2);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(m3->Forward(Ids(), 2), m2->Forward(Ids(), 1)));
  EXPECT_FALSE(torch::allclose(m3->Forward(Ids(), 1), m2->Forward(Ids(), 1)));
  EXPECT_EQ(m3->Forward(Ids(), 3).sizes(), (std::vector<int64_t>{2, 7, 8}));
}

TEST(ClipText, AttentionIsCausal) {
  // Changing a later token leaves earlier positions' outputs untouched.
  ClipTextModel m = Loaded(TinyConfig(2), RandomWeights(TinyConfig(2), 4));
  torch::NoGradGuard no_grad;
  torch::Tensor a = Ids(), b = Ids().clone();
  b[0][5] = 42;
  torch::Tensor ya = m->Forward(a), yb = m->Forward(b);
  EXPECT_TRUE(torch::allclose(ya.slice(1, 0, 5), yb.slice(1, 0, 5)));
  EXPECT_FALSE(torch::allclose(ya[0][5], yb[0][5]));
}

TEST(ClipText, ActivationsDiffer) {
  const StateDict w = RandomWeights(TinyConfig(1), 5);
  ClipTextModel gelu = Loaded(TinyConfig(1, ClipActivation::kGelu), w);
  ClipTextModel quick = Loaded(TinyConfig(1, ClipActivation::kQuickGelu), w);
  torch::NoGradGuard no_grad;
  const double diff = (gelu->Forward(Ids()) - quick->Forward(Ids())).abs().max().item<double>();
  EXPECT_GT(diff, 1e-4);
  EXPECT_LT(diff, 0.5);  // quick_gelu approximates gelu
  ClipActivation act;
  EXPECT_TRUE(ParseClipActivation("quick_gelu", &act) && act == ClipActivation::kQuickGelu);
  EXPECT_TRUE(ParseClipActivation("gelu", &act) && act == ClipActivation::kGelu);
  EXPECT_FALSE(ParseClipActivation("relu", &act));
}

TEST(ClipText, BadInputsThrowInvalidArgument) {
  ClipTextModel m(TinyConfig(2));
  auto code = [&](const torch::Tensor& ids, int skip) {
    try {
      m->Forward(ids, skip);
    } catch (const Error& e) {
      return e.status().code();
    }
    return Code::kOk;
  };
  EXPECT_EQ(code(Ids(), 0), Code::kInvalidArgument);
  EXPECT_EQ(code(Ids(), 3), Code::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({78}, torch::kInt64), 1), Code::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({1, 78}, torch::kInt64), 1), Code::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({1, 77}, torch::kInt32), 2), Code::kOk);  // int32 ids accepted
}

}  // namespace
}  // namespace easel::engine

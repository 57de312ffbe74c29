// LoRA application against tools/make_lora_goldens.py on the tiny sd1 fixture model: kohya,
// diffusers/peft, LyCORIS LoHa and LoKr files, each applied to our UNet (LDM names) and CLIP
// text encoder (HF names), compared with reference merged weights computed in plain torch
// from the published formulas (kohya names cross-checked against diffusers' converter), and
// with diffusers' UNet forward with the deltas fused. Also a two-LoRA stack and an exact
// Restore.
//
// Tolerances:
//  - merged weights: max |ours - reference| <= 1e-6. Both are float32 W + s * scale * delta
//    from the same (fp16 or f32) factors; they differ only in the order of a handful of
//    roundings (rank-4 sums, where strength and scale are multiplied in) on values below 1,
//    i.e. a few ulps (6e-8 each). A wrong scale, transposition or kron order moves entries
//    by 1e-3 or more.
//  - UNet forward: 1e-4 * max(1, max |reference|), the tolerance of unet_golden_test.cpp
//    (same network, same op-order argument); a missed layer changes the output by > 1e-3.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/adapt/lora.h"
#include "engine/nets/clip_text.h"
#include "engine/nets/unet.h"
#include "nets_golden_util.h"

namespace easel::engine {
namespace {

using testing::Compare;
using testing::Fixture;
using testing::LoadFixture;

constexpr double kWeightTolerance = 1e-6;
constexpr double kForwardRelTolerance = 1e-4;
constexpr size_t kEntriesPerFile = 12;  // 9 UNet + 3 text-encoder modules

struct Models {
  UNet unet{nullptr};
  ClipTextModel clip{nullptr};
};

Models LoadModels() {
  Models m;
  const StateDict ldm = LoadFixture("sd1.safetensors", "model.diffusion_model.");
  m.unet = UNet(UNetConfig::FromWeights(ldm, HeadRule::Heads(8)));
  EXPECT_TRUE(LoadIntoModule(*m.unet, ldm, "sd1 UNet").ok());
  const StateDict te = NormalizeHfClipText(LoadFixture("sd1/text_encoder/model.safetensors"));
  m.clip = ClipTextModel(
      ClipTextConfig::FromWeights(te, ClipActivation::kQuickGelu, /*heads=*/2).ValueOrThrow());
  EXPECT_TRUE(LoadIntoModule(*m.clip, te, "sd1 text encoder").ok());
  m.unet->eval();
  m.clip->eval();
  return m;
}

LoraMatch MatchFixture(const std::string& format, const Models& m) {
  const LoraFile file = LoadLora(Fixture("lora/" + format + ".safetensors")).ValueOrThrow();
  LoraMatch match =
      MatchLora(file, NamedParameters(*m.unet), NamedParameters(*m.clip)).ValueOrThrow();
  EXPECT_EQ(match.applied.size(), kEntriesPerFile) << format;
  EXPECT_TRUE(match.unmatched_keys.empty()) << format << ": " << match.unmatched_keys.front();
  return match;
}

std::map<std::string, torch::Tensor> Snapshot(const Models& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : NamedParameters(*m.unet)) out["unet." + k] = v.detach().clone();
  for (const auto& [k, v] : NamedParameters(*m.clip)) out["te." + k] = v.detach().clone();
  return out;
}

// Compares every reference tensor "<tag>.<part>.<param>" with the patched parameter; returns
// how many were compared.
int CheckWeights(const StateDict& ref, const std::string& tag, const Models& m) {
  const auto now = Snapshot(m);
  int compared = 0;
  double worst = 0;
  for (const auto& [key, want] : ref) {
    if (key.compare(0, tag.size() + 1, tag + ".") != 0 || key == tag + ".unet_out") continue;
    const std::string name = key.substr(tag.size() + 1);
    if (!now.count(name)) {
      ADD_FAILURE() << "no parameter for reference " << key;
      continue;
    }
    const auto e = Compare(now.at(name), want);
    worst = std::max(worst, e.max_abs);
    EXPECT_LE(e.max_abs, kWeightTolerance) << key;
    ++compared;
  }
  std::printf("[ lora golden ] %s: %d merged weights, max abs error %.3g\n", tag.c_str(), compared,
              worst);
  return compared;
}

class LoraFormatGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraFormatGolden, MatchesReferenceWeightsAndForward) {
  const std::string format = GetParam();
  Models m = LoadModels();
  const auto before = Snapshot(m);
  const StateDict ref = LoadFixture("lora/reference.safetensors");
  const LoraMatch match = MatchFixture(format, m);

  LoraPatcher patcher;
  const Status st = patcher.Apply({{&match, 0.8, 0.5}}, m.unet.ptr().get(), m.clip.ptr().get());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(patcher.patched_count(), kEntriesPerFile);
  EXPECT_GE(CheckWeights(ref, format, m), 10);

  // Untargeted parameters are untouched.
  const auto after = Snapshot(m);
  int changed = 0;
  for (const auto& [name, t] : before) changed += torch::equal(t, after.at(name)) ? 0 : 1;
  EXPECT_EQ(changed, static_cast<int>(kEntriesPerFile));

  const StateDict golden = LoadFixture("golden/sd1_unet.safetensors");
  torch::NoGradGuard no_grad;
  const torch::Tensor out =
      m.unet->forward(golden.at("x"), golden.at("timesteps"), golden.at("context"));
  const auto e = Compare(out, ref.at(format + ".unet_out"));
  std::printf("[ lora golden ] %s: UNet forward max abs error %.3g (reference max %.3g)\n",
              format.c_str(), e.max_abs, e.ref_scale);
  EXPECT_LE(e.max_abs, kForwardRelTolerance * std::max(1.0, e.ref_scale)) << format;
  // And the LoRA matters: the un-patched output is far from the patched reference.
  EXPECT_GT(Compare(golden.at("out"), ref.at(format + ".unet_out")).max_abs, 1e-3) << format;
}

INSTANTIATE_TEST_SUITE_P(AllFormats, LoraFormatGolden,
                         ::testing::Values("kohya", "diffusers", "loha", "lokr"));

TEST(LoraGolden, TwoLorasWithTheirOwnStrengths) {
  Models m = LoadModels();
  const StateDict ref = LoadFixture("lora/reference.safetensors");
  const LoraMatch kohya = MatchFixture("kohya", m);
  const LoraMatch loha = MatchFixture("loha", m);
  LoraPatcher patcher;
  ASSERT_TRUE(
      patcher
          .Apply({{&kohya, 0.7, 0.3}, {&loha, -0.5, 1.0}}, m.unet.ptr().get(), m.clip.ptr().get())
          .ok());
  EXPECT_GE(CheckWeights(ref, "stack", m), 10);
}

TEST(LoraGolden, RestoreIsBitExact) {
  Models m = LoadModels();
  const auto before = Snapshot(m);
  std::vector<LoraMatch> matches;
  for (const char* f : {"kohya", "diffusers", "loha", "lokr"})
    matches.push_back(MatchFixture(f, m));
  {
    LoraPatcher patcher;
    std::vector<LoraUse> stack;
    for (const LoraMatch& match : matches) stack.push_back({&match, 0.9, -1.3});
    ASSERT_TRUE(patcher.Apply(stack, m.unet.ptr().get(), m.clip.ptr().get()).ok());
    // A second Apply on top keeps the first originals.
    ASSERT_TRUE(
        patcher.Apply({{&matches[0], 2.0, 2.0}}, m.unet.ptr().get(), m.clip.ptr().get()).ok());
    int changed = 0;
    for (const auto& [name, t] : Snapshot(m)) changed += torch::equal(t, before.at(name)) ? 0 : 1;
    EXPECT_GT(changed, 0);
    patcher.Restore();
    for (const auto& [name, t] : Snapshot(m)) EXPECT_TRUE(torch::equal(t, before.at(name))) << name;
    // Patch again and let the destructor restore.
    ASSERT_TRUE(patcher.Apply(stack, m.unet.ptr().get(), m.clip.ptr().get()).ok());
  }
  for (const auto& [name, t] : Snapshot(m)) EXPECT_TRUE(torch::equal(t, before.at(name))) << name;
}

// A half-precision model: the delta is added in float32 and cast once; Restore is still exact.
TEST(LoraGolden, HalfPrecisionModelRestoresExactly) {
  Models m = LoadModels();
  m.unet->to(torch::kFloat16);
  const auto before = Snapshot(m);
  const LoraMatch match = MatchFixture("kohya", m);
  const StateDict ref = LoadFixture("lora/reference.safetensors");
  LoraPatcher patcher;
  ASSERT_TRUE(patcher.Apply({{&match, 0.8, 0.5}}, m.unet.ptr().get(), m.clip.ptr().get()).ok());
  const auto now = Snapshot(m);
  const std::string key = "unet.input_blocks.1.1.proj_in.weight";
  ASSERT_EQ(now.at(key).scalar_type(), torch::kFloat16);
  // fp16 rounding of values below 1: half an fp16 ulp, <= 2.5e-4.
  EXPECT_LE(Compare(now.at(key), ref.at("kohya." + key)).max_abs, 2.5e-4);
  patcher.Restore();
  for (const auto& [name, t] : Snapshot(m)) EXPECT_TRUE(torch::equal(t, before.at(name))) << name;
}

}  // namespace
}  // namespace easel::engine

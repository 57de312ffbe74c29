// CLIP text encoder vs transformers (tests/fixtures/golden/<m>_text.safetensors, made by
// tools/make_fixtures.py): the tiny SD1 (quick_gelu, 3 layers) and SD2-v (gelu, 2 layers)
// encoders, loaded both from the diffusers folder and from the single file (SD2: OpenCLIP
// layout with an extra last layer that the conversion drops), at clip skip 1 and 2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "engine/model_files.h"
#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

std::string Fixture(const std::string& rel) {
  return std::string(EASEL_FIXTURES_DIR) + "/" + rel;
}

// Tolerance: 1e-5 absolute. Weights are the same fp16 values upcast to float32 on both sides,
// so only float32 op order differs (matmul blocking, softmax/layer-norm reductions); outputs
// are layer-normed values of magnitude ~1-3, where that order costs ~1e-6.
constexpr double kTolerance = 1e-5;

struct Golden {
  torch::Tensor ids, skip1, skip2;
};

Golden ReadGolden(const std::string& model) {
  auto file = io::SafetensorsFile::Open(Fixture("golden/" + model + "_text.safetensors"));
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  StateDict d = LoadSafetensors(*file);
  return {d.at("ids"), d.at("hidden_skip1"), d.at("hidden_skip2")};
}

// Loads the model's text encoder through LoadModelFiles and runs both clip skips.
void CheckAgainstGolden(const std::string& model, const std::string& source,
                        ClipActivation expected_act) {
  SCOPED_TRACE(source);
  // Single files carry no config: the tiny encoders' 2 heads must be given (real widths
  // follow the width / 64 rule).
  ModelFileOptions options;
  if (source.size() > 12 && source.substr(source.size() - 12) == ".safetensors")
    options.text_heads = 2;
  auto files = LoadModelFiles(Fixture(source), "", options);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->clip_activation, expected_act);
  auto config = files->TextConfig();
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->heads, 2);
  EXPECT_EQ(config->hidden, 16);

  ClipTextModel clip(*config);
  Status st = LoadIntoModule(*clip, files->text_encoder, "text encoder of " + source);
  ASSERT_TRUE(st.ok()) << st.ToString();
  clip->eval();
  torch::NoGradGuard no_grad;

  const Golden g = ReadGolden(model);
  for (int skip : {1, 2}) {
    torch::Tensor out = clip->Forward(g.ids, skip);
    const torch::Tensor& want = skip == 1 ? g.skip1 : g.skip2;
    ASSERT_EQ(out.sizes(), want.sizes());
    const double err = (out - want).abs().max().item<double>();
    std::printf("[clip golden] %s clip_skip %d: max abs error %.3g\n", source.c_str(), skip, err);
    EXPECT_LE(err, kTolerance) << "clip skip " << skip;
  }
}

#define REQUIRE_FIXTURE(rel)                                                     \
  if (!std::filesystem::exists(Fixture(rel))) {                                  \
    GTEST_SKIP() << "missing fixture " << rel << ": run tools/make_fixtures.py"; \
  }

TEST(ClipTextGolden, Sd1Folder) {
  REQUIRE_FIXTURE("golden/sd1_text.safetensors");
  CheckAgainstGolden("sd1", "sd1", ClipActivation::kQuickGelu);
}

TEST(ClipTextGolden, Sd1SingleFile) {
  REQUIRE_FIXTURE("golden/sd1_text.safetensors");
  CheckAgainstGolden("sd1", "sd1.safetensors", ClipActivation::kQuickGelu);
}

TEST(ClipTextGolden, Sd2vFolder) {
  REQUIRE_FIXTURE("golden/sd2v_text.safetensors");
  CheckAgainstGolden("sd2v", "sd2v", ClipActivation::kGelu);
}

TEST(ClipTextGolden, Sd2vSingleFileDropsTheLastOpenClipLayer) {
  REQUIRE_FIXTURE("golden/sd2v_text.safetensors");
  CheckAgainstGolden("sd2v", "sd2v.safetensors", ClipActivation::kGelu);
}

// The chunk path (unit emphasis weights) gives the generation goldens' `cond`: the prompt's
// 77 ids from the text golden through EncodeChunks. Same tolerance and reason as above.
TEST(ClipTextGolden, Sd1ChunkEncodingMatchesGenerationCond) {
  REQUIRE_FIXTURE("golden/sd1_gen_euler_normal.safetensors");
  auto files = LoadModelFiles(Fixture("sd1"), "");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ClipTextModel clip(files->TextConfig().ValueOrThrow());
  ASSERT_TRUE(LoadIntoModule(*clip, files->text_encoder, "sd1 text encoder").ok());
  const Golden g = ReadGolden("sd1");
  text::TokenChunk chunk;
  for (int i = 0; i < text::kChunkLength; ++i) {
    chunk.ids[i] = static_cast<int>(g.ids[0][i].item<int64_t>());
    chunk.weights[i] = 1.0f;
  }
  torch::Tensor cond = EncodeChunks(*clip, {chunk}, /*clip_skip=*/1);
  auto gen = io::SafetensorsFile::Open(Fixture("golden/sd1_gen_euler_normal.safetensors"));
  ASSERT_TRUE(gen.ok());
  const torch::Tensor want = LoadSafetensors(*gen).at("cond");
  ASSERT_EQ(cond.sizes(), want.sizes());
  const double err = (cond - want).abs().max().item<double>();
  std::printf("[clip golden] sd1 chunk cond vs generation golden: max abs error %.3g\n", err);
  EXPECT_LE(err, kTolerance);
}

}  // namespace
}  // namespace easel::engine

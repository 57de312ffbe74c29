// Textual-inversion embeddings against transformers with the vectors put in place of the
// token embeddings (tools/make_sdxl_fixtures.py, golden/sdxl_embeddings.safetensors):
// SDXL (clip_l + clip_g) in the middle of a prompt and across a 75-token chunk boundary,
// SD1 (emb_params and string_to_param.*), ComfyUI's `embedding:name`, and the errors.
//
// Tolerance 1e-5 absolute: float32 CLIP on the same fp16-stored weights and the same fp16
// vectors; op-order differences measured ~1e-6 (as sdxl_golden_test.cpp's text tolerance).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "engine/model_files.h"
#include "engine/pipeline/text_conditioner.h"
#include "nets_golden_util.h"

namespace easel::engine {
namespace {
using testing::Compare;
using testing::Fixture;
using testing::LoadFixture;

constexpr double kTol = 1e-5;

struct Model {
  ModelFiles files;
  std::unique_ptr<TextConditioner> text;
};

Model& Load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Model>> cache;
  auto& slot = cache[name];
  if (!slot) {
    slot = std::make_unique<Model>();
    slot->files = LoadModelFiles(Fixture(name), "").ValueOrThrow();
    slot->text = TextConditioner::Load(slot->files, torch::kCPU, torch::kFloat32).ValueOrThrow();
  }
  return *slot;
}

ConditionParams WithEmbeddings() {
  ConditionParams p;
  p.embeddings_dir = Fixture("embeddings");
  return p;
}

Status EncodeStatus(const std::string& model, const std::string& prompt,
                    const ConditionParams& params) {
  return Load(model).text->Encode(prompt, "", params).status();
}

TEST(SdxlEmbeddingGolden, SdxlVectorsInPlace) {
  const StateDict g = LoadFixture("golden/sdxl_embeddings.safetensors");
  TextConditioner& text = *Load("sdxl").text;
  auto [pos, neg] =
      text.Encode("a photo of xlstyle in the snow", "", WithEmbeddings()).ValueOrThrow();
  auto e = Compare(pos.context, g.at("xl_context"));
  EXPECT_LT(e.max_abs, kTol);
  const torch::Tensor& pooled = g.at("xl_pooled");
  auto p = Compare(pos.y.slice(1, 0, pooled.size(1)), pooled);
  EXPECT_LT(p.max_abs, kTol);
  // ComfyUI's explicit form gives the same conditioning.
  auto [pos2, neg2] =
      text.Encode("a photo of embedding:xlstyle in the snow", "", WithEmbeddings()).ValueOrThrow();
  EXPECT_TRUE(torch::equal(pos2.context, pos.context));
  // Without the folder the word is just text.
  auto [plain, unused] = text.Encode("a photo of xlstyle in the snow", "", {}).ValueOrThrow();
  EXPECT_GT((plain.context - pos.context).abs().max().item<double>(), 1e-3);
  std::printf("  sdxl embedding: context %.2e, pooled %.2e\n", e.max_abs, p.max_abs);
}

TEST(SdxlEmbeddingGolden, MovesToTheNextChunkWhenItDoesNotFit) {
  const StateDict g = LoadFixture("golden/sdxl_embeddings.safetensors");
  std::string prompt;
  for (int i = 0; i < 74; ++i) prompt += "lake ";
  prompt += "xlstyle snow";
  auto [pos, neg] = Load("sdxl").text->Encode(prompt, "", WithEmbeddings()).ValueOrThrow();
  ASSERT_EQ(pos.context.size(1), 154);
  auto e = Compare(pos.context, g.at("xl_boundary_context"));
  EXPECT_LT(e.max_abs, kTol);
  std::printf("  sdxl embedding across a chunk boundary: %.2e\n", e.max_abs);
}

TEST(SdxlEmbeddingGolden, Sd1Formats) {
  const StateDict g = LoadFixture("golden/sdxl_embeddings.safetensors");
  auto [pos, neg] = Load("sd1")
                        .text->Encode("a foxstyle painting, oldstyle", "", WithEmbeddings())
                        .ValueOrThrow();
  auto e = Compare(pos.context, g.at("sd1_context"));
  EXPECT_LT(e.max_abs, kTol);
  std::printf("  sd1 embeddings (emb_params, string_to_param): %.2e\n", e.max_abs);
}

TEST(SdxlEmbeddingGolden, Errors) {
  const ConditionParams p = WithEmbeddings();
  // The wrong width names the file and the model's width.
  Status st = EncodeStatus("sd1", "a widestyle cat", p);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("widestyle.safetensors"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("width 32"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("width 16"), std::string::npos) << st.message();
  // An SD1 embedding on SDXL.
  st = EncodeStatus("sdxl", "a foxstyle cat", p);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("SDXL"), std::string::npos) << st.message();
  // `embedding:name` without such a file, with and without a folder.
  st = EncodeStatus("sd1", "a embedding:nosuch cat", p);
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("nosuch"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("embeddings"), std::string::npos) << st.message();
  st = EncodeStatus("sd1", "a embedding:nosuch cat", {});
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("--embeddings-dir"), std::string::npos) << st.message();
  // A plain word that is no file is text.
  EXPECT_TRUE(EncodeStatus("sd1", "a nosuch cat", p).ok());
  // Pickled embeddings are refused when used, with the way out.
  st = EncodeStatus("sd1", "a pickled cat", p);
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_NE(st.message().find("safetensors"), std::string::npos) << st.message();
  // A missing folder.
  ConditionParams missing;
  missing.embeddings_dir = Fixture("no_such_embeddings_dir");
  EXPECT_EQ(EncodeStatus("sd1", "a cat", missing).code(), Code::kNotFound);
}

}  // namespace
}  // namespace easel::engine

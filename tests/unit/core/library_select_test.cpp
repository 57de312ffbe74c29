// Prompt analysis, scoring and zero-configuration selection on library records (and once
// end to end on a scanned generated tree).
#include <gtest/gtest.h>

#include "io_temp_dir.h"
#include "library/scanner.h"
#include "library/selection.h"
#include "library_tree.h"

namespace easel::library {
namespace {

using namespace easel::testing;  // NOLINT

ModelRecord Rec(const std::string& name, ModelKind kind, Family family,
                std::vector<std::string> tags = {}, int64_t downloads = -1) {
  ModelRecord r;
  r.name = name;
  r.path = "/models/" + name + ".safetensors";
  r.kind = kind;
  r.family = family;
  r.tags = std::move(tags);
  r.downloads = downloads;
  return r;
}

std::vector<ModelRecord> Library() {
  std::vector<ModelRecord> lib = {
      Rec("AnimeXL_v3", ModelKind::kCheckpoint, Family::kSDXL, {"anime", "illustration"}, 120000),
      Rec("RealisticVision", ModelKind::kCheckpoint, Family::kSD1, {"photorealistic", "portrait"},
          500000),
      Rec("dreamshaper_8", ModelKind::kCheckpoint, Family::kSD1, {"art", "fantasy"}, 300000),
      Rec("anything_v5", ModelKind::kCheckpoint, Family::kSD1, {"anime"}, 200000),
      Rec("sd15_inpaint", ModelKind::kCheckpoint, Family::kSD1, {"anime"}),
      Rec("flux1-dev", ModelKind::kDiffusionModel, Family::kFlux),
      Rec("sdxl_vae", ModelKind::kVae, Family::kSDXL),
      Rec("anime_girl_v2", ModelKind::kLora, Family::kSDXL, {"anime", "1girl", "girl"}, 50000),
      Rec("pink_hair_style", ModelKind::kLora, Family::kSDXL, {"pink hair", "hair"}),
      Rec("character_detail", ModelKind::kLora, Family::kSDXL, {"detail"}),
      Rec("sd1_pink_hair", ModelKind::kLora, Family::kSD1, {"pink hair"}),
      Rec("cyber_city", ModelKind::kLora, Family::kSD1, {"neon", "sci-fi", "city"}),
  };
  lib[4].subtype = "inpaint";
  lib[8].trigger_words = {"pnkhr"};
  lib[7].preferred_weight = 0.9;
  return lib;
}

TEST(LibraryPrompt, KeywordsPhrasesStyleContent) {
  PromptAnalysis a = AnalyzePrompt("a girl with (pink hair:1.2), anime, <lora:x:0.5> high quality");
  EXPECT_EQ(a.words,
            (std::vector<std::string>{"girl", "pink", "hair", "anime", "high", "quality"}));
  EXPECT_NE(std::find(a.phrases.begin(), a.phrases.end(), "pink hair"), a.phrases.end());
  EXPECT_EQ(a.style, "anime");
  EXPECT_EQ(a.content, "character");
  EXPECT_NE(std::find(a.concepts.begin(), a.concepts.end(), "1girl"), a.concepts.end());
  PromptAnalysis c = AnalyzePrompt("cyberpunk city at night with neon lights, photo, 35mm");
  EXPECT_EQ(c.style, "realistic");
  EXPECT_EQ(c.content, "scene");
  EXPECT_NE(std::find(c.concepts.begin(), c.concepts.end(), "sci-fi"), c.concepts.end());
  EXPECT_EQ(AnalyzePrompt("oil painting of a lake").style, "artistic");
  EXPECT_EQ(AnalyzePrompt("blender render of a robot").style, "3d");
  EXPECT_EQ(AnalyzePrompt("a cup").style, "");
}

TEST(LibrarySelect, AnimeGirlPinkHairHighQuality) {
  SelectOptions o;
  o.style = "anime";
  o.quality = Quality::kHigh;
  auto s = SelectForPrompt("a girl with pink hair", "", Library(), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->base.model.name, "AnimeXL_v3");
  ASSERT_TRUE(s->vae.has_value());
  EXPECT_EQ(s->vae->model.name, "sdxl_vae");
  ASSERT_EQ(s->loras.size(), 2u);  // character_detail does not match
  EXPECT_EQ(s->loras[0].model.name, "anime_girl_v2");
  EXPECT_DOUBLE_EQ(s->loras[0].weight, 0.9);  // its metadata's weight
  EXPECT_EQ(s->loras[1].model.name, "pink_hair_style");
  EXPECT_DOUBLE_EQ(s->loras[1].weight, 0.7);
  EXPECT_EQ(s->prompt, "a girl with pink hair, pnkhr");
  EXPECT_EQ(s->params.width, 832);
  EXPECT_EQ(s->params.height, 1216);
  EXPECT_EQ(s->params.steps, 39);
  EXPECT_FALSE(s->negative_prompt.empty());
  for (const auto& line : s->explanation) std::printf("  %s\n", line.c_str());
  // Deterministic: the same library in another order gives the same choice.
  auto lib = Library();
  std::reverse(lib.begin(), lib.end());
  auto again = SelectForPrompt("a girl with pink hair", "", lib, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToJson(), s->ToJson());
}

TEST(LibrarySelect, QualityStyleAndSupportedFamilies) {
  SelectOptions o;
  o.style = "realistic";
  o.quality = Quality::kFast;
  auto s = SelectForPrompt("portrait of an old man", "", Library(), o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->base.model.name, "RealisticVision");
  EXPECT_EQ(s->params.sampler, "euler");
  EXPECT_EQ(s->params.steps, 15);
  EXPECT_FALSE(s->vae.has_value());  // no SD1 VAE: the checkpoint's own
  // The engine generates SD1/SD2 only: anime picks the SD1 anime model, never the inpaint one.
  o.style = "anime";
  o.quality = Quality::kUltra;
  o.require_supported = true;
  s = SelectForPrompt("a girl with pink hair", "", Library(), o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->base.model.name, "anything_v5");
  EXPECT_EQ(s->params.clip_skip, 2);
  ASSERT_EQ(s->loras.size(), 1u);
  EXPECT_EQ(s->loras[0].model.name, "sd1_pink_hair");
  // A diffusion model without its VAE and encoders is never chosen.
  std::vector<ModelRecord> flux_only = {Rec("flux1-dev", ModelKind::kDiffusionModel, Family::kFlux),
                                        Rec("dreamshaper_8", ModelKind::kCheckpoint, Family::kSD1)};
  o = SelectOptions{};
  o.quality = Quality::kUltra;
  s = SelectForPrompt("a lake", "", flux_only, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->base.model.name, "dreamshaper_8");
  // With them it is, and its encoders are chosen.
  ModelRecord ae = Rec("ae", ModelKind::kVae, Family::kFlux);
  ae.latent_channels = 16;
  ModelRecord cl = Rec("clip_l", ModelKind::kTextEncoder, Family::kUnknown);
  cl.subtype = "clip_l";
  ModelRecord t5 = Rec("t5xxl_fp16", ModelKind::kTextEncoder, Family::kUnknown);
  t5.subtype = "t5xxl";
  flux_only.insert(flux_only.end(), {ae, cl, t5});
  s = SelectForPrompt("a lake", "", flux_only, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->base.model.name, "flux1-dev");
  EXPECT_EQ(s->vae->model.name, "ae");
  ASSERT_EQ(s->text_encoders.size(), 2u);
  EXPECT_EQ(s->params.sampler, "euler");
  EXPECT_DOUBLE_EQ(s->params.cfg, 1.0);
  // Errors
  EXPECT_EQ(SelectForPrompt("x", "", {}, o).status().code(), Code::kNotFound);
  o.style = "cubist";
  EXPECT_EQ(SelectForPrompt("x", "", Library(), o).status().code(), Code::kInvalidArgument);
  o.style = "";
  o.require_supported = true;
  auto none = SelectForPrompt("x", "", {Rec("xl", ModelKind::kCheckpoint, Family::kSDXL)}, o);
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_NE(none.status().message().find("SD1.x and SD2.x"), std::string::npos);
}

TEST(LibrarySelect, EndToEndOnAScannedTree) {
  TempDir dir;
  const std::string root = dir.File("ComfyUI/models");
  WriteModel(root + "/checkpoints/photon_realistic.safetensors", Sd1Checkpoint());
  WriteModel(root + "/checkpoints/counterfeit_anime.safetensors", Sd1Checkpoint());
  WriteModel(root + "/loras/fox_ears.safetensors", KohyaLora(768),
             KohyaMetadata("sd_v1", {{"10_fox", {{"fox ears", 30}, {"fox", 20}}}}));
  WriteModel(root + "/vae/vae-ft-mse-840000.safetensors", LdmVae(""));
  auto index = store::SqliteModelIndex::Open(dir.File("easel.db"));
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE(ScanFolders({root}, **index).ok());
  auto lib = (*index)->List();
  ASSERT_TRUE(lib.ok());
  SelectOptions o;
  o.require_supported = true;
  auto s = SelectForPrompt("anime girl with fox ears", "", *lib, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->base.model.name, "counterfeit_anime");
  ASSERT_TRUE(s->vae.has_value());
  EXPECT_EQ(s->vae->model.name, "vae-ft-mse-840000");
  ASSERT_EQ(s->loras.size(), 1u);
  EXPECT_EQ(s->loras[0].model.name, "fox_ears");
}

}  // namespace
}  // namespace easel::library

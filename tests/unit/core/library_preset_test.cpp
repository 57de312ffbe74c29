// Presets (strict JSON, validation against files, vram_weights_mb, the store) and styles
// ({prompt} placement, A1111 styles.csv).
#include <gtest/gtest.h>

#include "io_temp_dir.h"
#include "library/preset.h"
#include "library/styles.h"
#include "library_tree.h"
#include "store/preset_store.h"

namespace easel::library {
namespace {

using namespace easel::testing;  // NOLINT
using nlohmann::json;

struct Files {
  TempDir dir;
  std::string sdxl, sd1, sdxl_lora, sd1_lora, sdxl_vae, flux_vae, flux, clip_l, clip_g, t5;
  Files() {
    sdxl = dir.File("ckpt/xl.safetensors");
    sd1 = dir.File("ckpt/sd15.safetensors");
    sdxl_lora = dir.File("loras/xl_lora.safetensors");
    sd1_lora = dir.File("loras/sd1_lora.safetensors");
    sdxl_vae = dir.File("vae/sdxl_vae.safetensors");
    flux_vae = dir.File("vae/ae.safetensors");
    flux = dir.File("unet/flux1.safetensors");
    clip_l = dir.File("clip/clip_l.safetensors");
    clip_g = dir.File("clip/clip_g.safetensors");
    t5 = dir.File("clip/t5xxl.safetensors");
    WriteModel(sdxl, SdxlCheckpoint());
    WriteModel(sd1, Sd1Checkpoint());
    WriteModel(sdxl_lora, KohyaLora(2048, true));
    WriteModel(sd1_lora, KohyaLora(768));
    WriteModel(sdxl_vae, LdmVae(""));
    WriteModel(flux_vae, LdmVae("", 16));
    WriteModel(flux, FluxUnetOnly());
    WriteModel(clip_l, HfClip("", 768));
    WriteModel(clip_g, HfClip("", 1280));
    WriteModel(t5, T5Encoder());
  }
};

bool HasProblem(const std::vector<PresetProblem>& ps, const std::string& field,
                const std::string& part) {
  for (const auto& p : ps)
    if (p.field == field && p.message.find(part) != std::string::npos) return true;
  return false;
}

TEST(LibraryPreset, JsonRoundTripAndStrictParsing) {
  json j = {
      {"type", "image"},
      {"name", "anime-xl"},
      {"checkpoint", "/m/x.safetensors"},
      {"loras", {{{"path", "/m/l.safetensors"}, {"weight", 0.7}}, "/m/l2.safetensors"}},
      {"params",
       {{"width", 832}, {"height", 1216}, {"steps", 30}, {"cfg", 6.5}, {"sampler", "dpmpp_2m"}}}};
  auto p = ImagePresetFromJson(j);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->loras.size(), 2u);
  EXPECT_DOUBLE_EQ(p->loras[0].weight, 0.7);
  EXPECT_DOUBLE_EQ(p->loras[1].weight, 1.0);
  EXPECT_EQ(p->params.height, 1216);
  auto again = ImagePresetFromJson(ToJson(*p));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ToJson(*again), ToJson(*p));

  auto bad = [](json j) { return ImagePresetFromJson(j).status().message(); };
  EXPECT_NE(bad({{"name", "x"}, {"chekpoint", "/a"}}).find("chekpoint: unknown field"),
            std::string::npos);
  EXPECT_NE(bad({{"name", "x"}, {"params", {{"steps", "many"}}}})
                .find("params.steps: expected an integer"),
            std::string::npos);
  EXPECT_NE(bad({{"name", "bad/name"}}).find("name"), std::string::npos);
  EXPECT_NE(bad({{"name", "x"}, {"type", "video"}}).find("type"), std::string::npos);
  EXPECT_NE(
      bad({{"name", "x"}, {"loras", {{{"path", "/a"}, {"wieght", 1}}}}}).find("loras[0].wieght"),
      std::string::npos);

  auto llm = LlmPresetFromJson({{"type", "llm"},
                                {"name", "tagger"},
                                {"model_path", "/m/q.gguf"},
                                {"n_ctx", 8192},
                                {"capabilities", {"chat", "vision"}},
                                {"role", "Background Tagger"}});
  ASSERT_TRUE(llm.ok()) << llm.status().ToString();
  EXPECT_EQ(ToJson(*llm)["n_ctx"], 8192);
}

TEST(LibraryPreset, ValidateChecksFilesKindsAndOneFamily) {
  Files f;
  ImagePreset ok;
  ok.name = "xl";
  ok.checkpoint = f.sdxl;
  ok.vae = f.sdxl_vae;
  ok.loras = {{f.sdxl_lora, 0.8}};
  auto problems = Validate(&ok, DiskLookup());
  EXPECT_TRUE(problems.empty()) << ProblemsText(problems);
  EXPECT_EQ(ok.family, "SDXL");
  const int64_t bytes = std::filesystem::file_size(f.sdxl) +
                        std::filesystem::file_size(f.sdxl_vae) +
                        std::filesystem::file_size(f.sdxl_lora);
  EXPECT_EQ(ok.vram_weights_mb, (bytes + (1 << 20) - 1) >> 20);
  EXPECT_GT(ok.vram_weights_mb, 100);  // real shapes: the CLIP embeddings alone are ~100 MB

  ImagePreset mixed = ok;
  mixed.loras = {{f.sd1_lora, 1.0}};
  problems = Validate(&mixed, DiskLookup());
  EXPECT_TRUE(HasProblem(problems, "loras[0]", "is SD1 but checkpoint is SDXL"))
      << ProblemsText(problems);

  ImagePreset missing = ok;
  missing.vae = f.dir.File("vae/nope.safetensors");
  EXPECT_TRUE(HasProblem(Validate(&missing, DiskLookup()), "vae", "does not exist"));

  ImagePreset wrong_kind = ok;
  wrong_kind.vae = f.sdxl_lora;
  EXPECT_TRUE(HasProblem(Validate(&wrong_kind, DiskLookup()), "vae", "holds a lora, not a vae"));

  ImagePreset both = ok;
  both.diffusion_model = f.flux;
  EXPECT_TRUE(HasProblem(Validate(&both, DiskLookup()), "checkpoint", "exactly one"));

  ImagePreset flux;
  flux.name = "flux";
  flux.diffusion_model = f.flux;
  flux.vae = f.sdxl_vae;
  flux.clip_l = f.clip_g;
  problems = Validate(&flux, DiskLookup());
  EXPECT_TRUE(HasProblem(problems, "vae", "4 latent channels")) << ProblemsText(problems);
  EXPECT_TRUE(HasProblem(problems, "clip_l", "clip_g text encoder, not clip_l"));
  EXPECT_TRUE(HasProblem(problems, "t5xxl", "Flux needs a t5xxl")) << ProblemsText(problems);
  flux.vae = f.flux_vae;
  flux.clip_l = f.clip_l;
  flux.t5xxl = f.t5;
  problems = Validate(&flux, DiskLookup());
  EXPECT_TRUE(problems.empty()) << ProblemsText(problems);
  EXPECT_EQ(flux.family, "Flux");

  LlmPreset llm;
  llm.name = "vision";
  llm.model_path = f.dir.Write("llm.gguf", "GGUF....");
  llm.capabilities = {"vision", "dance"};
  auto lp = Validate(&llm);
  EXPECT_TRUE(HasProblem(lp, "mmproj_path", "vision projector"));
  EXPECT_TRUE(HasProblem(lp, "capabilities", "'dance'"));
}

TEST(LibraryPreset, StoreCrudImportExport) {
  TempDir dir;
  auto store = store::SqlitePresetStore::Open(dir.File("easel.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto& s = **store;
  json p = {{"type", "image"}, {"name", "a"}, {"checkpoint", "/x"}};
  ASSERT_TRUE(s.PutPreset("a", "image", p, false).ok());
  EXPECT_EQ(s.PutPreset("a", "image", p, false).code(), Code::kInvalidArgument);
  p["description"] = "edited";
  ASSERT_TRUE(s.PutPreset("a", "image", p, true).ok());
  ASSERT_TRUE(s.PutPreset("b", "llm", {{"type", "llm"}, {"name", "b"}}, false).ok());
  EXPECT_EQ(s.GetPreset("a")->preset["description"], "edited");
  EXPECT_EQ(s.ListPresets()->size(), 2u);
  EXPECT_EQ(s.ListPresets("llm")->size(), 1u);
  ASSERT_TRUE(s.DeletePreset("a").ok());
  EXPECT_EQ(s.DeletePreset("a").code(), Code::kNotFound);
  EXPECT_EQ(s.GetPreset("a").status().code(), Code::kNotFound);

  auto docs = PresetsInFile(ExportDocument({p, {{"type", "llm"}, {"name", "z"}}}).dump());
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 2u);
  EXPECT_EQ(PresetsInFile(p.dump())->size(), 1u);
  EXPECT_FALSE(PresetsInFile("{oops").ok());
}

TEST(LibraryStyles, PromptPlacementAndA1111Csv) {
  Style s{"cinematic", "cinematic still of {prompt}, film grain", "cartoon", "user"};
  std::string prompt = "a fox", neg = "blurry";
  ApplyStyle(s, &prompt, &neg);
  EXPECT_EQ(prompt, "cinematic still of a fox, film grain");
  EXPECT_EQ(neg, "blurry, cartoon");
  EXPECT_EQ(MergeStyleText("masterpiece", ""), "masterpiece");
  EXPECT_EQ(MergeStyleText("", "a fox"), "a fox");
  EXPECT_EQ(MergeStyleText("best", "a fox,"), "a fox, best");

  const std::string csv =
      "\xEF\xBB\xBFname,prompt,negative_prompt\r\n"
      "Anime,\"anime style, {prompt}, vibrant\",\"photo, \"\"3d\"\"\"\r\n"
      "Multi,\"line one\nline two\",\n"
      ",orphan,\n"
      "Plain,oil painting,\n";
  auto styles = ParseStylesCsv(csv);
  ASSERT_TRUE(styles.ok()) << styles.status().ToString();
  ASSERT_EQ(styles->size(), 3u);
  EXPECT_EQ((*styles)[0].name, "Anime");
  EXPECT_EQ((*styles)[0].prompt, "anime style, {prompt}, vibrant");
  EXPECT_EQ((*styles)[0].negative_prompt, "photo, \"3d\"");
  EXPECT_EQ((*styles)[1].prompt, "line one\nline two");
  auto round = ParseStylesCsv(WriteStylesCsv(*styles));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ((*round)[0].negative_prompt, (*styles)[0].negative_prompt);
  EXPECT_EQ((*round)[1].prompt, (*styles)[1].prompt);

  auto open = ParseStylesCsv("name,prompt\nA,\"never closed\n");
  EXPECT_EQ(open.status().code(), Code::kCorrupt);
  EXPECT_NE(open.status().message().find("line 2"), std::string::npos) << open.status().message();
  EXPECT_EQ(ParseStylesCsv("title,prompt\nA,b\n").status().code(), Code::kInvalidArgument);

  TempDir dir;
  auto store = store::SqlitePresetStore::Open(dir.File("easel.db"));
  ASSERT_TRUE(store.ok());
  for (auto& st : *styles) st.source = "styles.csv";
  EXPECT_EQ(*(*store)->PutStyles(*styles), 3);
  EXPECT_EQ((*store)->GetStyle("Anime")->source, "styles.csv");
  EXPECT_EQ((*store)->PutStyle(s, false).code(), Code::kOk);
  EXPECT_EQ((*store)->PutStyle(s, false).code(), Code::kInvalidArgument);
  EXPECT_EQ((*store)->ListStyles()->size(), 4u);
  EXPECT_TRUE((*store)->DeleteStyle("Plain").ok());
  EXPECT_EQ((*store)->GetStyle("Plain").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace easel::library

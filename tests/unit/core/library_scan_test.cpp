// Library discovery and indexing on generated model trees: classification of every kind
// and family by tensors and folders, sidecars of each format, corrupt files, incremental
// rescans, hashing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "io_temp_dir.h"
#include "library/classify.h"
#include "library/hasher.h"
#include "library/scanner.h"
#include "library/sidecars.h"
#include "library_tree.h"
#include "store/model_index.h"
#include "util/sha256.h"

namespace easel::library {
namespace {

using namespace easel::testing;  // NOLINT
namespace fs = std::filesystem;

struct Tree {
  TempDir dir;
  std::string comfy, a1111;
  Tree() {
    comfy = dir.File("ComfyUI/models");
    a1111 = dir.File("webui/models");
    WriteModel(comfy + "/checkpoints/sd15_base.safetensors", Sd1Checkpoint());
    WriteModel(comfy + "/checkpoints/sd15_inpaint.safetensors", Sd1Checkpoint(9));
    WriteModel(comfy + "/checkpoints/sd21.safetensors", Sd2Checkpoint(true));
    WriteModel(comfy + "/checkpoints/animeXL.safetensors", SdxlCheckpoint());
    WriteModel(comfy + "/checkpoints/sd3_medium.safetensors", Sd3Checkpoint());
    WriteModel(comfy + "/diffusion_models/flux1-dev.safetensors", FluxUnetOnly());
    WriteModel(comfy + "/unet/sdxl_unet.safetensors", LdmUnet("", 4, 2048, true, 2816));
    WriteModel(comfy + "/vae/sdxl_vae.safetensors", LdmVae(""));
    WriteModel(comfy + "/vae/ae.safetensors", LdmVae("", 16));
    WriteModel(comfy + "/clip/clip_l.safetensors", HfClip("", 768));
    WriteModel(comfy + "/text_encoders/clip_g.safetensors", HfClip("", 1280));
    WriteModel(comfy + "/text_encoders/t5xxl_fp16.safetensors", T5Encoder());
    WriteModel(comfy + "/loras/anime_girl.safetensors", KohyaLora(2048, true),
               KohyaMetadata("sdxl_base_v1-0", {{"10_girl", {{"1girl", 40}, {"pink hair", 25}}}}));
    WriteModel(comfy + "/loras/sd15_detail.safetensors", KohyaLora(768));
    WriteModel(comfy + "/loras/flux_style.safetensors", FluxLora());
    WriteModel(comfy + "/loras/peft_sd2.safetensors", PeftLora(1024));
    WriteModel(comfy + "/embeddings/easynegative.safetensors", Embedding(768));
    WriteModel(comfy + "/embeddings/xl_neg.safetensors", SdxlEmbedding());
    WriteModel(comfy + "/controlnet/control_canny_sd15.safetensors", ControlNet(768));
    WriteModel(comfy + "/upscale_models/4x_esrgan.safetensors", Esrgan());
    WriteText(comfy + "/upscale_models/RealESRGAN_x4.pth", "PK\x03\x04 pickle");
    // A1111 layout
    WriteModel(a1111 + "/Stable-diffusion/realistic.safetensors", Sd1Checkpoint());
    WriteModel(a1111 + "/Lora/pink_hair.safetensors", KohyaLora(768));
    WriteModel(a1111 + "/LyCORIS/loha_style.safetensors", LohaLora(768));
    WriteModel(a1111 + "/VAE/vae-ft-mse-840000.safetensors", LdmVae(""));
    WriteModel(a1111 + "/ESRGAN/4x_ultra.safetensors", Esrgan());
    WriteModel(a1111 + "/ControlNet/xl_depth.safetensors", ControlNet(2048));
    // A checkpoint misfiled in the LoRA folder: tensors win.
    WriteModel(a1111 + "/Lora/misfiled.safetensors", Sd1Checkpoint());
    // Corrupt files
    WriteText(a1111 + "/Lora/truncated.safetensors",
              std::string("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 14));
    WriteText(a1111 + "/Lora/not_a_model.safetensors", "hello world, this is text");
    // Sidecars for pink_hair
    WriteText(a1111 + "/Lora/pink_hair.civitai.info", R"({"baseModel": "SD 1.5",
      "trainedWords": ["pnkhr, pink hair"], "model": {"name": "Pink Hair"},
      "stats": {"downloadCount": 12345, "rating": 4.8},
      "images": [{"url": "x", "meta": {"steps": 28, "cfgScale": 6.5, "sampler": "DPM++ 2M Karras", "Size": "512x768", "Clip skip": "2"}}]})");
    WriteText(
        a1111 + "/Lora/pink_hair.json",
        R"({"description": "pink hair", "sd version": "SD1", "activation text": "pinkhair style", "preferred weight": 0.7})");
    WriteText(a1111 + "/Lora/pink_hair.preview.png", "png");
    WriteText(comfy + "/loras/anime_girl.metadata.json", R"({"model_name": "Anime Girl XL",
      "base_model": "Pony", "tags": ["Anime", "character"], "usage_tips": "{\"strength\": 0.85}",
      "civitai": {"trainedWords": ["anigirl"], "model": {"name": "Anime Girl", "tags": ["girl"]},
                  "stats": {"downloadCount": 99000}}})");
    WriteText(comfy + "/loras/sd15_detail.civitai.info", "{not json");
  }
};

std::unique_ptr<store::SqliteModelIndex> OpenIndex(const TempDir& dir) {
  auto index = store::SqliteModelIndex::Open(dir.File("easel.db"));
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(*index);
}

std::map<std::string, ModelRecord> ByName(store::SqliteModelIndex& index) {
  std::map<std::string, ModelRecord> out;
  auto all = index.List();
  EXPECT_TRUE(all.ok());
  for (auto& r : *all) out[r.name] = r;
  return out;
}

TEST(LibraryClassify, EveryKindAndFamilyOfAGeneratedTree) {
  Tree t;
  auto index = OpenIndex(t.dir);
  auto report = ScanFolders({t.comfy, t.a1111}, *index);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->files, 30);
  EXPECT_EQ(report->added, 30);
  EXPECT_EQ(report->errors, 2);
  auto m = ByName(*index);
  struct Want {
    const char* name;
    const char* kind;
    const char* family;
    const char* subtype;
  };
  const Want wants[] = {
      {"sd15_base", "checkpoint", "SD1", ""},
      {"sd15_inpaint", "checkpoint", "SD1", "inpaint"},
      {"sd21", "checkpoint", "SD2", ""},
      {"animeXL", "checkpoint", "SDXL", ""},
      {"sd3_medium", "checkpoint", "SD3", ""},
      {"flux1-dev", "diffusion_model", "Flux", ""},
      {"sdxl_unet", "diffusion_model", "SDXL", ""},
      {"sdxl_vae", "vae", "SDXL", ""},
      {"ae", "vae", "Flux", ""},
      {"clip_l", "text_encoder", "unknown", "clip_l"},
      {"clip_g", "text_encoder", "unknown", "clip_g"},
      {"t5xxl_fp16", "text_encoder", "unknown", "t5xxl"},
      {"anime_girl", "lora", "SDXL", "lora"},
      {"sd15_detail", "lora", "SD1", "lora"},
      {"flux_style", "lora", "Flux", "lora"},
      {"peft_sd2", "lora", "SD2", "peft"},
      {"easynegative", "embedding", "SD1", ""},
      {"xl_neg", "embedding", "SDXL", ""},
      {"control_canny_sd15", "controlnet", "SD1", ""},
      {"4x_esrgan", "upscaler", "unknown", "esrgan"},
      {"RealESRGAN_x4", "upscaler", "unknown", "pickle"},
      {"realistic", "checkpoint", "SD1", ""},
      {"pink_hair", "lora", "SD1", "lora"},
      {"loha_style", "lora", "SD1", "loha"},
      {"vae-ft-mse-840000", "vae", "SD1", ""},
      {"4x_ultra", "upscaler", "unknown", "esrgan"},
      {"xl_depth", "controlnet", "SDXL", ""},
      {"misfiled", "checkpoint", "SD1", ""},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.name);
    ASSERT_TRUE(m.count(w.name));
    const ModelRecord& r = m[w.name];
    EXPECT_EQ(KindName(r.kind), std::string(w.kind));
    EXPECT_EQ(FamilyName(r.family), std::string(w.family));
    EXPECT_EQ(r.subtype, w.subtype);
    EXPECT_TRUE(r.error.empty()) << r.error;
  }
  EXPECT_EQ(m["ae"].latent_channels, 16);
  EXPECT_EQ(m["sdxl_vae"].latent_channels, 4);
  bool says_misfiled = false;
  for (const auto& e : m["misfiled"].evidence)
    says_misfiled |= e.find("'Lora' folder") != std::string::npos;
  EXPECT_TRUE(says_misfiled);
  // Corrupt files are listed with their error, kind from the folder.
  EXPECT_FALSE(m["truncated"].error.empty());
  EXPECT_FALSE(m["not_a_model"].error.empty());
  EXPECT_EQ(m["truncated"].kind, ModelKind::kLora);
}

TEST(LibraryClassify, SidecarsAndKohyaMetadata) {
  Tree t;
  auto index = OpenIndex(t.dir);
  ASSERT_TRUE(ScanFolders({t.comfy, t.a1111}, *index).ok());
  auto m = ByName(*index);
  const ModelRecord& p = m["pink_hair"];
  EXPECT_EQ(p.base_model, "SD 1.5");
  EXPECT_EQ(p.title, "Pink Hair");
  EXPECT_EQ(p.downloads, 12345);
  EXPECT_DOUBLE_EQ(p.rating, 4.8);
  EXPECT_DOUBLE_EQ(p.preferred_weight, 0.7);
  EXPECT_EQ(p.params.value("steps", 0), 28);
  EXPECT_EQ(p.params.value("width", 0), 512);
  EXPECT_EQ(p.params.value("height", 0), 768);
  EXPECT_EQ(p.params.value("clip_skip", 0), 2);
  EXPECT_EQ(p.trigger_words, (std::vector<std::string>{"pinkhair style", "pnkhr", "pink hair"}));
  EXPECT_TRUE(p.preview.find("pink_hair.preview.png") != std::string::npos);
  const ModelRecord& a = m["anime_girl"];
  EXPECT_EQ(a.title, "Anime Girl XL");
  EXPECT_EQ(a.base_model, "Pony");
  EXPECT_DOUBLE_EQ(a.preferred_weight, 0.85);
  EXPECT_EQ(a.downloads, 99000);
  ASSERT_GE(a.tags.size(), 4u);
  EXPECT_EQ(a.tags[0], "1girl");  // kohya ss_tag_frequency, most frequent first
  EXPECT_EQ(a.tags[1], "pink hair");
  EXPECT_NE(std::find(a.tags.begin(), a.tags.end(), "anime"), a.tags.end());
  EXPECT_EQ(a.trigger_words, (std::vector<std::string>{"anigirl"}));
  EXPECT_EQ(a.metadata.value("ss_network_module", ""), "networks.lora");
  // A malformed sidecar is skipped with a note.
  bool noted = false;
  for (const auto& e : m["sd15_detail"].evidence)
    noted |= e.find("civitai.info skipped") != std::string::npos;
  EXPECT_TRUE(noted);
  // Tag filter
  auto tagged = index->List({"", "", "pink hair", "", false, 0, 0});
  ASSERT_TRUE(tagged.ok());
  ASSERT_EQ(tagged->size(), 1u);
  EXPECT_EQ((*tagged)[0].name, "anime_girl");
}

TEST(LibraryScan, RescanTouchesOnlyChangedFiles) {
  Tree t;
  auto index = OpenIndex(t.dir);
  ASSERT_TRUE(ScanFolders({t.comfy, t.a1111}, *index).ok());
  auto again = ScanFolders({t.comfy, t.a1111}, *index);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, again->files);
  EXPECT_EQ(again->added + again->updated + again->removed, 0);

  // One changed file, one new sidecar, one removed, one new.
  WriteModel(t.comfy + "/loras/sd15_detail.safetensors", KohyaLora(768, false, 8));
  ::utime((t.comfy + "/loras/sd15_detail.safetensors").c_str(), nullptr);
  struct utimbuf old_times = {1000, 1000};
  ::utime((t.comfy + "/loras/sd15_detail.safetensors").c_str(), &old_times);
  WriteText(t.comfy + "/loras/flux_style.json", R"({"activation text": "fluxy"})");
  fs::remove(t.comfy + "/checkpoints/sd21.safetensors");
  WriteModel(t.comfy + "/loras/new_one.safetensors", KohyaLora(768));
  auto third = ScanFolders({t.comfy, t.a1111}, *index);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->added, 1);
  EXPECT_EQ(third->updated, 2);
  EXPECT_EQ(third->removed, 1);
  auto m = ByName(*index);
  EXPECT_EQ(m.count("sd21"), 0u);
  EXPECT_EQ(m["flux_style"].trigger_words, (std::vector<std::string>{"fluxy"}));
  // A missing root is reported and its rows are kept.
  auto missing = ScanFolders({t.dir.File("nope")}, *index);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->missing_roots.size(), 1u);
}

TEST(LibraryHash, HashedOnceAndKeptWhileUnchanged) {
  TempDir dir;
  const std::string root = dir.File("models");
  WriteText(root + "/loras/a.safetensors", "");  // unreadable: error, never hashed
  WriteModel(root + "/loras/b.safetensors", KohyaLora(768));
  WriteModel(root + "/loras/c.safetensors", KohyaLora(2048));
  auto index = OpenIndex(dir);
  ASSERT_TRUE(ScanFolders({root}, *index).ok());
  auto r = HashPending(*index);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->hashed, 2);
  auto b = index->Get(fs::absolute(root + "/loras/b.safetensors").lexically_normal().string());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto want = Sha256File(b->path);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(b->sha256, *want);
  EXPECT_EQ(b->autov2, want->substr(0, 10));
  EXPECT_TRUE(index->FindByHash(want->substr(0, 10)).ok());
  // A rescan of unchanged files keeps the hashes; nothing is pending.
  ASSERT_TRUE(ScanFolders({root}, *index).ok());
  r = HashPending(*index);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hashed, 0);
  // A changed file loses its hash and is hashed anew.
  WriteModel(root + "/loras/b.safetensors", KohyaLora(768, false, 8));
  struct utimbuf times = {2000, 2000};
  ::utime((root + "/loras/b.safetensors").c_str(), &times);
  ASSERT_TRUE(ScanFolders({root}, *index).ok());
  EXPECT_TRUE(index->Get(b->path)->sha256.empty());
  // In the background this time.
  auto hasher = BackgroundHasher::Start(dir.File("easel.db"));
  ASSERT_TRUE(hasher.ok());
  ASSERT_TRUE((*hasher)->WaitIdle(10000));
  EXPECT_EQ((*hasher)->hashed(), 1);
  EXPECT_EQ(index->Get(b->path)->sha256, *Sha256File(b->path));
}

TEST(LibraryScan, DiffusersFolderIsOneModel) {
  TempDir dir;
  const std::string root = dir.File("models/diffusers");
  const std::string m = root + "/tiny-sd";
  WriteText(
      m + "/model_index.json",
      R"({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})");
  WriteText(m + "/unet/config.json", R"({"cross_attention_dim": 768, "in_channels": 4})");
  WriteModel(m + "/unet/diffusion_pytorch_model.safetensors", DiffusersUnet(768, false));
  auto index = OpenIndex(dir);
  auto rep = ScanFolders({dir.File("models")}, *index);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->files, 1);
  auto all = index->List();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].subtype, "diffusers");
  EXPECT_EQ((*all)[0].family, Family::kSD1);
  // Hashed by its UNet weights, as model_hash.h does for diffusers folders.
  auto h = HashPending(*index);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->hashed, 1);
  EXPECT_EQ(index->List()->front().sha256,
            *Sha256File(m + "/unet/diffusion_pytorch_model.safetensors"));
}

TEST(LibraryScan, RootKindClassifiesWhatTensorsCannot) {
  TempDir dir;
  const std::string root = dir.File("shared/my_stuff");
  WriteModel(root + "/odd.safetensors", {{"some.weight", {4, 4}}});
  WriteText(root + "/old.ckpt", "PK\x03\x04");
  auto index = OpenIndex(dir);
  ASSERT_TRUE(
      ScanFolders({ModelRoot{root, ModelKind::kLora, "extra_model_paths.yaml (x)"}}, *index).ok());
  auto m = ByName(*index);
  EXPECT_EQ(m["odd"].kind, ModelKind::kLora);
  EXPECT_EQ(m["old"].kind, ModelKind::kLora);
  EXPECT_EQ(m["old"].subtype, "pickle");
  // ReadModelFile: the same reading for one file.
  ModelRecord r = ReadModelFile(root + "/odd.safetensors", root, ModelKind::kVae);
  EXPECT_EQ(r.kind, ModelKind::kVae);
  EXPECT_FALSE(ReadModelFile(root + "/missing.safetensors", root).error.empty());
}

// A 5,000-file tree: prints the first scan and the no-change rescan times (figures for the
// README; not a timed assertion).
TEST(LibraryScan, FiveThousandFileTreeTimings) {
  TempDir dir;
  const std::string root = dir.File("models");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5000; ++i) {
    const std::string sub = i % 5 == 0 ? "/checkpoints/" : "/loras/";
    const std::string path =
        root + sub + "set" + std::to_string(i % 50) + "/m" + std::to_string(i) + ".safetensors";
    if (i % 5 == 0)
      WriteModel(path, i % 2 ? Sd1Checkpoint() : SdxlCheckpoint());
    else
      WriteModel(path, KohyaLora(i % 2 ? 768 : 2048),
                 KohyaMetadata("sd_v1", {{"d", {{"tag" + std::to_string(i % 97), 3}}}}));
    if (i % 10 == 1)
      WriteText(
          root + sub + "set" + std::to_string(i % 50) + "/m" + std::to_string(i) + ".civitai.info",
          R"({"trainedWords": ["w"]})");
  }
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto index = OpenIndex(dir);
  auto first = ScanFolders({root}, *index);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = ScanFolders({root}, *index);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(first->added, 5000);
  EXPECT_EQ(again->unchanged, 5000);
  std::printf(
      "[library] 5,000-file tree (generated in %.2f s): first scan %.2f s, no-change rescan %.3f "
      "s\n",
      gen_s, first->seconds, again->seconds);
}

}  // namespace
}  // namespace easel::library

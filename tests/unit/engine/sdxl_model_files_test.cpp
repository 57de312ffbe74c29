// SDXL detection and loading: SGM single files and diffusers folders hold the same weights;
// detection uses tensor names and shapes only (tiny widths included); the `v_pred` key of
// v-prediction fine-tunes (NoobAI) is honoured; the refiner is told apart; SD3/Flux stay
// refused; a separate VAE replaces the model's own.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "detect_synthetic.h"
#include "engine/model_files.h"
#include "library/detect.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

using easel::testing::FreshTempDir;
using easel::testing::SdxlCheckpoint;
using easel::testing::WriteZeroSafetensors;

std::string Fixture(const std::string& rel) {
  return EASEL_FIXTURES_DIR "/" + rel;
}

ModelFileOptions Tiny() {
  ModelFileOptions o;
  o.text_heads = 2;
  o.unet_head_dim = 16;
  return o;
}

void ExpectSameDict(const StateDict& a, const StateDict& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    ASSERT_NE(it, b.end()) << what << ": " << k;
    EXPECT_TRUE(torch::equal(v.to(torch::kFloat32), it->second.to(torch::kFloat32)))
        << what << ": " << k;
  }
}

TEST(SdxlModelFiles, SingleFileEqualsFolder) {
  ModelFiles folder = LoadModelFiles(Fixture("sdxl"), "").ValueOrThrow();
  ModelFiles single = LoadModelFiles(Fixture("sdxl.safetensors"), "", Tiny()).ValueOrThrow();
  for (const ModelFiles* f : {&folder, &single}) {
    EXPECT_EQ(f->det.family, library::Family::kSDXL);
    EXPECT_EQ(f->det.variant, "base");
    EXPECT_EQ(f->scheduler.prediction, library::Prediction::kEps);
    EXPECT_DOUBLE_EQ(f->vae_scaling_factor, 0.13025);
    EXPECT_EQ(f->pad_id, 49407);
    EXPECT_EQ(f->pad_id2, 0);
    EXPECT_EQ(f->text_heads, 2);
    EXPECT_EQ(f->text_heads2, 2);
    EXPECT_EQ(f->adm_in_channels, 68);
    EXPECT_EQ(f->TextConfig2()->projection_dim, 20);
    EXPECT_EQ(f->TextConfig2()->activation, ClipActivation::kGelu);
    EXPECT_EQ(f->TextConfig()->activation, ClipActivation::kQuickGelu);
  }
  ExpectSameDict(folder.unet, single.unet, "unet");
  ExpectSameDict(folder.vae, single.vae, "vae");
  ExpectSameDict(folder.text_encoder, single.text_encoder, "CLIP-L");
  ExpectSameDict(folder.text_encoder2, single.text_encoder2, "bigG");
  const UNetConfig a = UNetConfig::FromWeights(folder.unet, folder.unet_heads);
  const UNetConfig b = UNetConfig::FromWeights(single.unet, single.unet_heads);
  EXPECT_EQ(a.ToString(), b.ToString());
  // SDXL's shape: no attention at the first level, depth varying by level, linear proj.
  EXPECT_EQ(a.input_depth, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(a.middle_depth, 2);
  EXPECT_EQ(a.heads, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_TRUE(a.use_linear_proj);
  EXPECT_EQ(a.context_dim, 28);
}

TEST(SdxlModelFiles, RefinerAndSeparateVae) {
  // Without a VAE the refiner file is incomplete; the base file's VAE completes it.
  auto bare = LoadModelFiles(Fixture("sdxl_refiner.safetensors"), "", Tiny());
  EXPECT_EQ(bare.status().code(), Code::kInvalidArgument);
  ModelFiles r =
      LoadModelFiles(Fixture("sdxl_refiner.safetensors"), Fixture("sdxl.safetensors"), Tiny())
          .ValueOrThrow();
  EXPECT_EQ(r.det.variant, "refiner");
  EXPECT_TRUE(r.IsSdxlRefiner());
  EXPECT_TRUE(r.text_encoder.empty());
  EXPECT_EQ(r.adm_in_channels, 60);
  EXPECT_EQ(r.vae_name, "sdxl");
  ModelFiles base = LoadModelFiles(Fixture("sdxl"), "").ValueOrThrow();
  ExpectSameDict(base.vae, r.vae, "VAE taken from the base file");
  // The fp16-fixed VAE is just another VAE file: a loose one replaces the model's own.
  ModelFiles other =
      LoadModelFiles(Fixture("sdxl"), Fixture("vae_other.safetensors")).ValueOrThrow();
  EXPECT_EQ(other.vae_name, "vae_other");
  EXPECT_DOUBLE_EQ(other.vae_scaling_factor, 0.13025);
}

// A refiner folder (StableDiffusionXLImg2ImgPipeline without text_encoder/ and tokenizer/),
// made from the base folder: the loader takes bigG and tokenizer_2 alone.
TEST(SdxlModelFiles, RefinerFolder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(FreshTempDir("sdxl_refiner_folder")) / "refiner";
  fs::copy(Fixture("sdxl"), dir, fs::copy_options::recursive);
  fs::remove_all(dir / "text_encoder");
  fs::remove_all(dir / "tokenizer");
  std::ifstream in(dir / "model_index.json");
  nlohmann::json index = nlohmann::json::parse(in);
  in.close();
  index["_class_name"] = "StableDiffusionXLImg2ImgPipeline";
  index["text_encoder"] = {nullptr, nullptr};
  index["tokenizer"] = {nullptr, nullptr};
  std::ofstream(dir / "model_index.json") << index.dump();
  ModelFiles r = LoadModelFiles(dir.string(), "").ValueOrThrow();
  EXPECT_EQ(r.det.variant, "refiner");
  EXPECT_TRUE(r.IsSdxlRefiner());
  EXPECT_TRUE(r.vocab_path.empty());  // configs only: the standard vocabulary
  EXPECT_EQ(r.pad_id2, 0);
  ModelFiles base = LoadModelFiles(Fixture("sdxl"), "").ValueOrThrow();
  ExpectSameDict(base.text_encoder2, r.text_encoder2, "bigG");
}

TEST(SdxlModelFiles, DetectionUsesTensorsOnly) {
  const std::string dir = FreshTempDir("sdxl_detect");
  // A fine-tune (Pony, Illustrious ...) with any name is SDXL by its tensors.
  WriteZeroSafetensors(dir + "/ponyDiffusionV6XL.safetensors", SdxlCheckpoint());
  auto d = library::DetectFile(dir + "/ponyDiffusionV6XL.safetensors").ValueOrThrow();
  EXPECT_EQ(d.family, library::Family::kSDXL);
  EXPECT_EQ(d.prediction, library::Prediction::kEps);
  EXPECT_TRUE(d.Supported());
  // NoobAI v-prediction files carry a `v_pred` key.
  auto t = SdxlCheckpoint();
  t.push_back({"v_pred", {0}});
  WriteZeroSafetensors(dir + "/noobai.safetensors", t);
  d = library::DetectFile(dir + "/noobai.safetensors").ValueOrThrow();
  EXPECT_EQ(d.family, library::Family::kSDXL);
  EXPECT_EQ(d.prediction, library::Prediction::kV);
  WriteZeroSafetensors(dir + "/refiner.safetensors", SdxlCheckpoint(2560));
  EXPECT_EQ(library::DetectFile(dir + "/refiner.safetensors")->variant, "refiner");
  // The tiny fixtures: SDXL by structure (SGM embedders + label_emb).
  EXPECT_EQ(library::DetectFile(Fixture("sdxl.safetensors"))->family, library::Family::kSDXL);
  EXPECT_EQ(library::DetectFile(Fixture("sdxl_refiner.safetensors"))->variant, "refiner");
  auto folder = library::DetectPath(Fixture("sdxl")).ValueOrThrow();
  EXPECT_EQ(folder.family, library::Family::kSDXL);
}

TEST(SdxlModelFiles, Sd3AndFluxStayRefused) {
  const std::string dir = FreshTempDir("sdxl_sd3");
  WriteZeroSafetensors(dir + "/sd3.safetensors", easel::testing::Sd3Checkpoint());
  auto r = LoadModelFiles(dir + "/sd3.safetensors", "");
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find("SD3"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace easel::engine

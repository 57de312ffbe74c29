// Model detection on synthetic weight-free headers (every family and layout), the registry's
// exclusivity, and the real tiny fixtures.
#include "library/detect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include "detect_synthetic.h"
#include "test_paths.h"

namespace easel::library {
namespace {

using easel::testing::TensorShapes;

struct Case {
  std::string name;
  TensorShapes tensors;
  Family family;
  Layout layout;
  std::string variant;
  Prediction prediction;
};

std::vector<Case> Cases() {
  using namespace easel::testing;
  TensorShapes tiny_sd1 = LdmUnet("", 4, 16, /*linear=*/false);
  TensorShapes tiny_sd2 = LdmUnet("", 4, 16, /*linear=*/true);
  TensorShapes sd1_unclip_like = LdmUnet("model.diffusion_model.", 4, 1024, true, /*adm=*/1536);
  Append(&sd1_unclip_like, OpenClip("cond_stage_model.model.", 1024));
  return {
      {"sd1", Sd1Checkpoint(), Family::kSD1, Layout::kCheckpoint, "base", Prediction::kEps},
      {"sd1_inpaint", Sd1Checkpoint(9), Family::kSD1, Layout::kCheckpoint, "inpaint",
       Prediction::kEps},
      {"sd2_eps", Sd2Checkpoint(false), Family::kSD2, Layout::kCheckpoint, "base",
       Prediction::kEps},
      {"sd2_v", Sd2Checkpoint(true), Family::kSD2, Layout::kCheckpoint, "base", Prediction::kV},
      {"sdxl", SdxlCheckpoint(), Family::kSDXL, Layout::kCheckpoint, "base", Prediction::kEps},
      {"sdxl_refiner", SdxlCheckpoint(2560), Family::kSDXL, Layout::kCheckpoint, "refiner",
       Prediction::kEps},
      {"sd3", Sd3Checkpoint(), Family::kSD3, Layout::kCheckpoint, "", Prediction::kFlow},
      {"flux_unet", FluxUnetOnly(), Family::kFlux, Layout::kUnetOnly, "", Prediction::kFlow},
      {"sd1_unet", LdmUnet("", 4, 768, false), Family::kSD1, Layout::kUnetOnly, "base",
       Prediction::kEps},
      {"sd2_unet_diffusers", DiffusersUnet(1024, true), Family::kSD2, Layout::kUnetOnly, "base",
       Prediction::kEps},
      {"tiny_sd1_unet", tiny_sd1, Family::kSD1, Layout::kUnetOnly, "base", Prediction::kEps},
      {"tiny_sd2_unet", tiny_sd2, Family::kSD2, Layout::kUnetOnly, "base", Prediction::kEps},
      {"vae", LdmVae(""), Family::kUnknown, Layout::kVaeOnly, "", Prediction::kUnknown},
      {"vae_prefixed", LdmVae("first_stage_model."), Family::kUnknown, Layout::kVaeOnly, "",
       Prediction::kUnknown},
      {"clip_l", HfClip("", 768), Family::kUnknown, Layout::kTextEncoderOnly, "",
       Prediction::kUnknown},
      {"openclip", OpenClip("", 1024), Family::kUnknown, Layout::kTextEncoderOnly, "",
       Prediction::kUnknown},
      {"unclip_like", sd1_unclip_like, Family::kUnknown, Layout::kCheckpoint, "",
       Prediction::kUnknown},
      {"junk",
       {{"foo.weight", {3, 3}}, {"bar", {2}}},
       Family::kUnknown,
       Layout::kUnknown,
       "",
       Prediction::kUnknown},
  };
}

std::shared_ptr<const io::SafetensorsFile> Write(const Case& c) {
  const std::string dir = easel::testing::FreshTempDir("detect_" + c.name);
  const std::string path = dir + "/" + c.name + ".safetensors";
  easel::testing::WriteZeroSafetensors(path, c.tensors);
  auto file = io::SafetensorsFile::OpenHeaderOnly(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  return *file;
}

std::string Evidence(const Detection& d) {
  return d.ToJson().dump(2);
}

TEST(Detect, EveryFamilyAndLayoutOnSyntheticHeaders) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    auto file = Write(c);
    Detection d = DetectSafetensors(file);
    EXPECT_EQ(d.family, c.family) << Evidence(d);
    EXPECT_EQ(d.layout, c.layout) << Evidence(d);
    EXPECT_EQ(d.variant, c.variant) << Evidence(d);
    EXPECT_EQ(d.prediction, c.prediction) << Evidence(d);
    EXPECT_FALSE(d.evidence.empty());
    EXPECT_EQ(d.file_size, file->file_size());
  }
}

TEST(Detect, NoTwoFamiliesClaimTheSameWeights) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    auto file = Write(c);
    std::vector<Family> claims = FamiliesClaiming(*file);
    if (c.family == Family::kUnknown) {
      EXPECT_TRUE(claims.empty()) << FamilyName(claims.front());
    } else {
      ASSERT_EQ(claims.size(), 1u);
      EXPECT_EQ(claims[0], c.family);
    }
  }
}

TEST(Detect, TinyWidthsAreDecidedByStructureWithEvidence) {
  using namespace easel::testing;
  TensorShapes t = LdmUnet("model.diffusion_model.", 4, 16, /*linear=*/true);
  Append(&t, HfClip("cond_stage_model.transformer.", 16));  // the text encoder wins
  Detection d = DetectSafetensors(Write({"tiny_ckpt", t, {}, {}, {}, {}}));
  EXPECT_EQ(d.family, Family::kSD1);
  EXPECT_EQ(d.context_dim, 16);
  EXPECT_EQ(d.text_encoder_layout, "hf_clip");
  bool found = false;
  for (const auto& e : d.evidence)
    found = found || (e.find("neither 768") != std::string::npos &&
                      e.find("cond_stage_model.transformer") != std::string::npos);
  EXPECT_TRUE(found) << Evidence(d);
}

TEST(Detect, ComponentsCountParametersAndDtypes) {
  Detection d =
      DetectSafetensors(Write({"sd1_stats", easel::testing::Sd1Checkpoint(), {}, {}, {}, {}}));
  ASSERT_TRUE(d.Has("unet") && d.Has("vae") && d.Has("text_encoder")) << Evidence(d);
  EXPECT_FALSE(d.Has("other"));
  const ComponentStats* te = d.Component("text_encoder");
  EXPECT_EQ(te->tensors, 4);
  EXPECT_EQ(te->parameters, 49408 * 768 + 77 * 768 + 768 + 768);
  EXPECT_EQ(te->dtypes.at("F16"), te->parameters);
  nlohmann::json j = d.ToJson();
  EXPECT_EQ(j["family"], "SD1");
  EXPECT_EQ(j["layout"], "checkpoint");
  EXPECT_EQ(j["prediction"], "eps");
  EXPECT_EQ(j["supported"], true);
  EXPECT_EQ(j["components"].size(), 3u);
  EXPECT_TRUE(j["evidence"].is_array());
}

TEST(Detect, Sd3FluxAreRecognisedButNotSupported) {
  for (const Case& c : Cases()) {
    if (c.family != Family::kSDXL && c.family != Family::kSD3 && c.family != Family::kFlux)
      continue;
    Detection d = DetectSafetensors(Write(c));
    const bool sdxl = c.family == Family::kSDXL;  // supported since Engine II
    EXPECT_EQ(d.Supported(), sdxl) << c.name;
    EXPECT_EQ(d.ToJson()["supported"], sdxl);
  }
}

// ComfyUI's SD2 heuristic: std(output_blocks.11.1.transformer_blocks.0.norm1.bias) > 0.09
// means v-prediction. Needs tensor data: header-only detection assumes eps and says so.
TEST(Detect, Sd2VHeuristicReadsOneTensorWhenDataIsAvailable) {
  using namespace easel::testing;
  for (float spread : {0.2f, 0.01f}) {
    SCOPED_TRACE(spread);
    const std::string dir = FreshTempDir("detect_vheur");
    const std::string path = dir + "/m.safetensors";
    std::vector<float> bias(64);
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = (i % 2 ? spread : -spread);
    std::vector<io::TensorBytes> tensors;
    std::vector<std::string> zeros;
    TensorShapes shapes = LdmUnet("model.diffusion_model.", 4, 1024, true);
    Append(&shapes, OpenClip("cond_stage_model.model.", 8));
    zeros.reserve(shapes.size());
    for (const auto& [name, shape] : shapes) {
      int64_t n = 1;
      for (int64_t s : shape) n *= s;
      zeros.emplace_back(static_cast<size_t>(n) * 2, '\0');
      tensors.push_back({name, io::DType::kF16, shape, zeros.back()});
    }
    tensors.push_back({"model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias",
                       io::DType::kF32,
                       {64},
                       std::string_view(reinterpret_cast<const char*>(bias.data()), 64 * 4)});
    ASSERT_TRUE(io::WriteSafetensors(path, tensors).ok());

    auto header_only = DetectFile(path, /*read_data=*/false);
    ASSERT_TRUE(header_only.ok()) << header_only.status().ToString();
    EXPECT_EQ(header_only->prediction, Prediction::kEps);

    auto with_data = DetectFile(path);
    ASSERT_TRUE(with_data.ok());
    EXPECT_EQ(with_data->family, Family::kSD2);
    EXPECT_EQ(with_data->prediction, spread > 0.09f ? Prediction::kV : Prediction::kEps)
        << Evidence(*with_data);
  }
}

TEST(Detect, DiffusersFolderFromConfigs) {
  const std::string dir = easel::testing::FreshTempDir("detect_diffusers");
  namespace fs = std::filesystem;
  auto write = [](const fs::path& p, const nlohmann::json& j) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << j.dump();
  };
  write(fs::path(dir) / "model_index.json",
        {{"_class_name", "StableDiffusionXLPipeline"},
         {"unet", {"diffusers", "UNet2DConditionModel"}},
         {"text_encoder", {"transformers", "CLIPTextModel"}},
         {"text_encoder_2", {"transformers", "CLIPTextModelWithProjection"}},
         {"scheduler", {"diffusers", "EulerDiscreteScheduler"}}});
  write(fs::path(dir) / "unet" / "config.json",
        {{"cross_attention_dim", 2048}, {"in_channels", 4}});
  write(fs::path(dir) / "scheduler" / "scheduler_config.json", {{"prediction_type", "epsilon"}});
  fs::create_directories(fs::path(dir) / "text_encoder");
  fs::create_directories(fs::path(dir) / "text_encoder_2");
  easel::testing::WriteZeroSafetensors(dir + "/unet/diffusion_pytorch_model.safetensors",
                                       easel::testing::DiffusersUnet(2048, true));
  easel::testing::WriteZeroSafetensors(dir + "/text_encoder/model.safetensors",
                                       easel::testing::HfClip("", 768));
  std::ofstream(dir + "/text_encoder_2/pytorch_model.bin") << "pickle";
  auto d = DetectPath(dir);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->family, Family::kSDXL);
  EXPECT_EQ(d->layout, Layout::kDiffusers);
  EXPECT_EQ(d->variant, "base");
  EXPECT_TRUE(d->Has("unet") && d->Has("text_encoder"));
  EXPECT_FALSE(d->Has("text_encoder_2"));  // pickled only: reported in the evidence
  bool pickle_noted = false;
  for (const auto& e : d->evidence)
    pickle_noted = pickle_noted || e.find("pickled") != std::string::npos;
  EXPECT_TRUE(pickle_noted) << Evidence(*d);

  auto weights = DiffusersWeightFiles(dir + "/text_encoder_2");
  EXPECT_EQ(weights.status().code(), Code::kUnsupported);
  EXPECT_EQ(DetectPath(dir + "/unet").status().code(), Code::kNotFound);  // no model_index.json
}

TEST(Detect, BadFilesFailWithTheReadersStatus) {
  EXPECT_EQ(DetectPath("/nonexistent/model.safetensors").status().code(), Code::kNotFound);
  const std::string dir = easel::testing::FreshTempDir("detect_bad");
  std::ofstream(dir + "/model.ckpt") << "PK\x03\x04 not really";
  EXPECT_FALSE(DetectPath(dir + "/model.ckpt").ok());
}

// ---- the real tiny fixtures (tools/make_fixtures.py) ---------------------------------------

std::string Fixture(const std::string& rel) {
  return std::string(EASEL_FIXTURES_DIR) + "/" + rel;
}

#define REQUIRE_FIXTURE(rel)                  \
  if (!std::filesystem::exists(Fixture(rel))) \
  GTEST_SKIP() << "missing fixture " << rel << ": run tools/make_fixtures.py"

TEST(DetectFixtures, Sd1SingleFileAndFolder) {
  REQUIRE_FIXTURE("sd1.safetensors");
  auto file = DetectPath(Fixture("sd1.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->family, Family::kSD1) << Evidence(*file);
  EXPECT_EQ(file->layout, Layout::kCheckpoint);
  EXPECT_EQ(file->prediction, Prediction::kEps);
  EXPECT_EQ(file->context_dim, 16);
  EXPECT_TRUE(file->Has("unet") && file->Has("vae") && file->Has("text_encoder"));

  auto folder = DetectPath(Fixture("sd1"));
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_EQ(folder->family, Family::kSD1) << Evidence(*folder);
  EXPECT_EQ(folder->layout, Layout::kDiffusers);
  EXPECT_EQ(folder->prediction, Prediction::kEps);
  EXPECT_EQ(folder->variant, "base");
  EXPECT_TRUE(folder->Has("unet") && folder->Has("vae") && folder->Has("text_encoder"));
  // Same weights, two layouts: the same parameter counts per component.
  for (const char* c : {"unet", "vae"})
    EXPECT_EQ(folder->Component(c)->parameters, file->Component(c)->parameters) << c;
}

TEST(DetectFixtures, Sd2vSingleFileAndFolder) {
  REQUIRE_FIXTURE("sd2v.safetensors");
  auto file = DetectPath(Fixture("sd2v.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->family, Family::kSD2) << Evidence(*file);
  EXPECT_EQ(file->prediction, Prediction::kV);
  EXPECT_EQ(file->text_encoder_layout, "openclip");

  auto folder = DetectPath(Fixture("sd2v"));
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_EQ(folder->family, Family::kSD2) << Evidence(*folder);
  EXPECT_EQ(folder->prediction, Prediction::kV);
}

TEST(DetectFixtures, SeparateVae) {
  REQUIRE_FIXTURE("vae_other.safetensors");
  auto d = DetectPath(Fixture("vae_other.safetensors"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->layout, Layout::kVaeOnly) << Evidence(*d);
  EXPECT_EQ(d->family, Family::kUnknown);
  EXPECT_TRUE(d->Has("vae"));
}

}  // namespace
}  // namespace easel::library

// LoadModelFiles on the tiny fixtures (folder vs single file give the same weights; VAE
// overrides in every layout; settings from configs) and on bad inputs (each error says what
// is wrong).
#include "engine/model_files.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "detect_synthetic.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

namespace fs = std::filesystem;
using library::Family;
using library::Prediction;

std::string Fixture(const std::string& rel) {
  return std::string(EASEL_FIXTURES_DIR) + "/" + rel;
}

#define REQUIRE_FIXTURE(rel)                                                     \
  if (!fs::exists(Fixture(rel))) {                                               \
    GTEST_SKIP() << "missing fixture " << rel << ": run tools/make_fixtures.py"; \
  }

ModelFiles Load(const std::string& model, const std::string& vae = "", int64_t heads = 2) {
  ModelFileOptions options;
  options.text_heads = heads;
  auto r = LoadModelFiles(model, vae, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : ModelFiles{};
}

// Same key set, and every tensor equal after upcasting (the fixtures hold identical fp16
// values in both layouts).
void ExpectSameWeights(const StateDict& a, const StateDict& b, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    ASSERT_NE(it, b.end()) << k;
    ASSERT_EQ(v.sizes(), it->second.sizes()) << k;
    EXPECT_TRUE(torch::equal(v.to(torch::kFloat32), it->second.to(torch::kFloat32))) << k;
  }
}

TEST(ModelFiles, Sd1FolderAndSingleFileAgree) {
  REQUIRE_FIXTURE("sd1.safetensors");
  ModelFiles folder = Load(Fixture("sd1"), "", /*heads=*/0);  // heads from config.json
  ModelFiles single = Load(Fixture("sd1.safetensors"));
  ExpectSameWeights(folder.text_encoder, single.text_encoder, "text encoder");
  ExpectSameWeights(folder.unet, single.unet, "unet");
  ExpectSameWeights(folder.vae, single.vae, "vae");
  EXPECT_EQ(folder.text_encoder.count("embeddings.position_ids"), 0u);

  for (const ModelFiles* f : {&folder, &single}) {
    EXPECT_EQ(f->det.family, Family::kSD1);
    EXPECT_EQ(f->text_heads, 2);
    EXPECT_EQ(f->clip_activation, ClipActivation::kQuickGelu);
    EXPECT_EQ(f->pad_id, 49407);
    EXPECT_EQ(f->scheduler.prediction, Prediction::kEps);
    EXPECT_DOUBLE_EQ(f->scheduler.beta_start, 0.00085);
    EXPECT_DOUBLE_EQ(f->scheduler.beta_end, 0.012);
    EXPECT_EQ(f->scheduler.beta_schedule, "scaled_linear");
    EXPECT_EQ(f->scheduler.num_train_timesteps, 1000);
    EXPECT_DOUBLE_EQ(f->vae_scaling_factor, 0.18215);
    EXPECT_EQ(f->unet_heads.ToString(), "8 heads");
    EXPECT_EQ(f->model_name, "sd1");
    EXPECT_TRUE(f->vae_path.empty() && f->vae_name.empty());
  }
  EXPECT_EQ(folder.vocab_path, Fixture("sd1") + "/tokenizer/vocab.json");
  EXPECT_EQ(folder.merges_path, Fixture("sd1") + "/tokenizer/merges.txt");
  EXPECT_TRUE(single.vocab_path.empty());
}

TEST(ModelFiles, Sd2vFolderAndSingleFileAgree) {
  REQUIRE_FIXTURE("sd2v.safetensors");
  ModelFiles folder = Load(Fixture("sd2v"), "", 0);
  ModelFiles single = Load(Fixture("sd2v.safetensors"));
  // The single file's 3 OpenCLIP layers lose the last one: the folder's 2 layers remain.
  ExpectSameWeights(folder.text_encoder, single.text_encoder, "text encoder");
  EXPECT_EQ(single.text_encoder.count("encoder.layers.2.mlp.fc1.weight"), 0u);
  ExpectSameWeights(folder.unet, single.unet, "unet");
  ExpectSameWeights(folder.vae, single.vae, "vae");
  for (const ModelFiles* f : {&folder, &single}) {
    EXPECT_EQ(f->det.family, Family::kSD2);
    EXPECT_EQ(f->scheduler.prediction, Prediction::kV);
    EXPECT_EQ(f->clip_activation, ClipActivation::kGelu);
    EXPECT_EQ(f->pad_id, 0);  // "!"
    EXPECT_EQ(f->text_heads, 2);
  }
  EXPECT_EQ(single.unet_heads.ToString(), "64 channels per head");
  // Both rules give 1 head of 64 channels at each 64-channel level.
  for (size_t level : {0, 1}) {
    EXPECT_EQ(folder.unet_heads.HeadsFor(64, level), 1);
    EXPECT_EQ(single.unet_heads.HeadsFor(64, level), 1);
  }
}

TEST(ModelFiles, SingleFileWidthRuleNeedsHeadsForTinyEncoders) {
  REQUIRE_FIXTURE("sd1.safetensors");
  auto r = LoadModelFiles(Fixture("sd1.safetensors"), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("attention heads"), std::string::npos)
      << r.status().message();
}

TEST(ModelFiles, VaeOverrideFromAPlainFile) {
  REQUIRE_FIXTURE("vae_other.safetensors");
  ModelFiles base = Load(Fixture("sd1.safetensors"));
  ModelFiles f = Load(Fixture("sd1.safetensors"), Fixture("vae_other.safetensors"));
  auto other = io::SafetensorsFile::Open(Fixture("vae_other.safetensors"));
  ASSERT_TRUE(other.ok());
  ExpectSameWeights(f.vae, LoadSafetensors(*other), "vae_other");
  EXPECT_FALSE(torch::equal(f.vae.at("decoder.conv_in.weight").to(torch::kFloat32),
                            base.vae.at("decoder.conv_in.weight").to(torch::kFloat32)));
  EXPECT_EQ(f.vae_name, "vae_other");
  EXPECT_EQ(f.vae_path, Fixture("vae_other.safetensors"));
  ExpectSameWeights(f.unet, base.unet, "unet untouched");
}

// Rewrites vae_other.safetensors with a prefix (and an LPIPS-style extra the loader drops).
std::string PrefixedVae(const std::string& prefix) {
  auto file = io::SafetensorsFile::Open(Fixture("vae_other.safetensors")).ValueOrThrow();
  std::vector<io::TensorBytes> out;
  std::vector<std::string> names;
  names.reserve(file->tensors().size() + 1);
  for (const auto& t : file->tensors()) {
    names.push_back(prefix + t.name);
    out.push_back({names.back(), t.dtype, t.shape,
                   std::string_view(reinterpret_cast<const char*>(t.data), t.nbytes)});
  }
  const float one = 1.0f;
  names.push_back(prefix + "loss.logvar");
  out.push_back({names.back(),
                 io::DType::kF32,
                 {1},
                 std::string_view(reinterpret_cast<const char*>(&one), 4)});
  const std::string dir = easel::testing::FreshTempDir("vae_prefix_" + prefix);
  const std::string path = dir + "/vae-ft-mse.safetensors";
  EXPECT_TRUE(io::WriteSafetensors(path, out).ok());
  return path;
}

TEST(ModelFiles, VaeOverrideWithPrefixes) {
  REQUIRE_FIXTURE("vae_other.safetensors");
  auto other = io::SafetensorsFile::Open(Fixture("vae_other.safetensors"));
  ASSERT_TRUE(other.ok());
  const StateDict want = LoadSafetensors(*other);
  for (const char* prefix : {"first_stage_model.", "vae."}) {
    SCOPED_TRACE(prefix);
    ModelFiles f = Load(Fixture("sd1.safetensors"), PrefixedVae(prefix));
    ExpectSameWeights(f.vae, want, "prefixed vae");
    EXPECT_EQ(f.vae_name, "vae-ft-mse");
  }
}

TEST(ModelFiles, VaeOverrideFromADiffusersFolderOrCheckpoint) {
  REQUIRE_FIXTURE("sd2v.safetensors");
  ModelFiles sd2 = Load(Fixture("sd2v"), "", 0);
  ModelFiles from_folder = Load(Fixture("sd1.safetensors"), Fixture("sd2v/vae"));
  ExpectSameWeights(from_folder.vae, sd2.vae, "vae from diffusers vae/ folder");
  EXPECT_EQ(from_folder.vae_name, "vae");
  ModelFiles from_ckpt = Load(Fixture("sd1.safetensors"), Fixture("sd2v.safetensors"));
  ExpectSameWeights(from_ckpt.vae, sd2.vae, "vae taken from a checkpoint");
}

TEST(ModelFiles, VaeOverrideInDiffusersNamesWithoutConfig) {
  REQUIRE_FIXTURE("sd2v.safetensors");
  // A diffusers-named VAE file on its own (no config.json): the layout is read from its keys.
  const std::string src = Fixture("sd2v/vae/diffusion_pytorch_model.safetensors");
  ModelFiles sd2 = Load(Fixture("sd2v"), "", 0);
  ModelFiles f = Load(Fixture("sd1.safetensors"), src);
  ExpectSameWeights(f.vae, sd2.vae, "diffusers-named vae file");
}

TEST(ModelFiles, MissingComponentsAndWrongFilesAreExplained) {
  using namespace easel::testing;
  const std::string dir = FreshTempDir("model_files_bad");
  auto write = [&](const std::string& name, const TensorShapes& t) {
    WriteZeroSafetensors(dir + "/" + name, t);
    return dir + "/" + name;
  };
  auto status = [](const std::string& model, const std::string& vae = "") {
    return LoadModelFiles(model, vae).status();
  };

  Status st = status(write("unet.safetensors", LdmUnet("", 4, 768, false)));
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("has no text encoder"), std::string::npos) << st.message();

  st = status(write("vae.safetensors", LdmVae("")));
  EXPECT_NE(st.message().find("is a VAE file"), std::string::npos) << st.message();

  st = status(write("sd3.safetensors", Sd3Checkpoint()));
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_NE(st.message().find("detected SD3; Easel supports SD1.x, SD2.x and SDXL for now"),
            std::string::npos)
      << st.message();

  st = status(write("flux.safetensors", FluxUnetOnly()));
  EXPECT_EQ(st.code(), Code::kInvalidArgument);  // a diffusion model alone: nothing to pair

  st = status(write("junk.safetensors", {{"foo.weight", {2, 2}}}));
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("could not tell which model"), std::string::npos) << st.message();

  TensorShapes no_vae = LdmUnet("model.diffusion_model.", 4, 768, false);
  Append(&no_vae, HfClip("cond_stage_model.transformer.", 768));
  st = status(write("novae.safetensors", no_vae));
  EXPECT_NE(st.message().find("has no VAE"), std::string::npos) << st.message();

  TensorShapes no_te = LdmUnet("model.diffusion_model.", 4, 768, false);
  Append(&no_te, LdmVae("first_stage_model."));
  st = status(write("note.safetensors", no_te));
  EXPECT_NE(st.message().find("has no text encoder"), std::string::npos) << st.message();

  // A 16-channel VAE cannot decode SD1 latents.
  st = status(write("sd1.safetensors", Sd1Checkpoint()),
              write("fluxvae.safetensors", LdmVae("", 16)));
  EXPECT_NE(st.message().find("16 latent channels"), std::string::npos) << st.message();
  st = status(write("sd1b.safetensors", Sd1Checkpoint()),
              write("notvae.safetensors", HfClip("", 8)));
  EXPECT_NE(st.message().find("is not a VAE"), std::string::npos) << st.message();

  EXPECT_EQ(status(dir + "/missing.safetensors").code(), Code::kNotFound);
  std::ofstream(dir + "/old.ckpt") << "PK\x03\x04pickled";
  EXPECT_EQ(status(dir + "/old.ckpt").code(), Code::kUnsupported);
  fs::create_directories(dir + "/emptyfolder");
  st = status(dir + "/emptyfolder");
  EXPECT_NE(st.message().find("without model_index.json"), std::string::npos) << st.message();
}

TEST(ModelFiles, SyntheticSd2CheckpointUsesTheWidthRule) {
  // Real widths need no heads option: 1024 / 64 = 16 heads, and SD2's settings apply.
  using namespace easel::testing;
  const std::string dir = FreshTempDir("model_files_sd2");
  TensorShapes t = LdmUnet("model.diffusion_model.", 4, 1024, true);
  Append(&t, LdmVae("first_stage_model."));
  Append(&t, OpenClip("cond_stage_model.model.", 1024));
  t.push_back({"cond_stage_model.model.transformer.resblocks.1.ln_1.weight", {1024}});
  t.push_back({"cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", {4096, 1024}});
  WriteZeroSafetensors(dir + "/sd21.safetensors", t);
  auto r = LoadModelFiles(dir + "/sd21.safetensors", "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text_heads, 16);
  EXPECT_EQ(r->pad_id, 0);
  EXPECT_EQ(r->model_name, "sd21");
  EXPECT_EQ(r->scheduler.prediction, Prediction::kEps);
  // resblocks.1 (the last) is dropped; resblocks.0 becomes encoder.layers.0.
  EXPECT_EQ(r->text_encoder.count("encoder.layers.1.layer_norm1.weight"), 0u);
  EXPECT_EQ(r->text_encoder.count("encoder.layers.0.mlp.fc1.weight"), 1u);
}

}  // namespace
}  // namespace easel::engine

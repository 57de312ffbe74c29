// SDXL against diffusers / transformers on the tiny fixtures (tools/make_sdxl_fixtures.py):
// text conditioning (context, pooled, y) of the base from the diffusers folder and the SGM
// single file, one UNet forward with y, the refiner's conditioning and UNet, a 4-step
// generation through SdPipeline, and SDXL LoRAs (kohya and peft) against the reference
// weights + deltas run through diffusers.
//
// Tolerances (all sides float32 from the same fp16-rounded weights):
//   text (context, pooled, y)  1e-5 absolute: a 3-layer CLIP, values O(1); op-order
//                              differences measured ~1e-6. y's sinusoidal part is computed
//                              by diffusers' add_time_proj vs our SdxlSizeEmbedding (cos/sin
//                              of float32 arguments up to 128: a few ulps).
//   UNet out                   1e-4 * max(1, max|ref|), the reason given in
//                              unet_golden_test.cpp (explicit softmax vs SDPA, blocking).
//   generation latent          1e-4 * max(1, max|ref|), as pipeline_golden_test.cpp (CFG 5
//                              over 4 steps amplifies float32 drift; a bug moves O(1)).
//   decoded image              1e-4 absolute on [-1, 1].
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "engine/adapt/lora.h"
#include "engine/model_files.h"
#include "engine/nets/unet.h"
#include "engine/pipeline/sd_pipeline.h"
#include "engine/pipeline/text_conditioner.h"
#include "io/safetensors.h"
#include "nets_golden_util.h"

namespace easel::engine {
namespace {
using testing::Compare;
using testing::Fixture;
using testing::LoadFixture;

constexpr double kTextTol = 1e-5;

// The tiny models' sizes that single files cannot say (real SDXL: width/64 text heads and
// 64 channels per UNet head).
ModelFileOptions TinyOptions() {
  ModelFileOptions o;
  o.text_heads = 2;
  o.unet_head_dim = 16;
  return o;
}

ConditionParams GoldenParams(const std::map<std::string, std::string>& meta) {
  ConditionParams p;
  p.width = std::stoi(meta.at("width"));
  p.height = std::stoi(meta.at("height"));
  p.crop_top = std::stoi(meta.at("crop_top"));
  p.crop_left = std::stoi(meta.at("crop_left"));
  return p;
}

void ExpectClose(const torch::Tensor& got, const torch::Tensor& ref, double tol,
                 const std::string& what) {
  ASSERT_EQ(got.sizes(), ref.sizes()) << what;
  const auto e = Compare(got, ref);
  EXPECT_LT(e.max_abs, tol) << what << ": max abs error " << e.max_abs;
  std::printf("  %-34s max abs %.2e (scale %.2f)\n", what.c_str(), e.max_abs, e.ref_scale);
}

struct Loaded {
  ModelFiles files;
  std::unique_ptr<TextConditioner> text;
};

Loaded LoadText(const std::string& model, const std::string& vae = "",
                const ModelFileOptions& options = {}) {
  Loaded l;
  l.files = LoadModelFiles(Fixture(model), vae.empty() ? "" : Fixture(vae), options).ValueOrThrow();
  l.text = TextConditioner::Load(l.files, torch::kCPU, torch::kFloat32).ValueOrThrow();
  return l;
}

UNet BuildUnet(const ModelFiles& files) {
  UNet unet(UNetConfig::FromWeights(files.unet, files.unet_heads));
  Status s = LoadIntoModule(*unet, files.unet, "UNet");
  if (!s.ok()) throw Error(s);
  unet->eval();
  return unet;
}

class SdxlText : public ::testing::TestWithParam<std::string> {};

TEST_P(SdxlText, MatchesReference) {
  const bool single = GetParam() == "sdxl.safetensors";
  Loaded m = LoadText(GetParam(), "", single ? TinyOptions() : ModelFileOptions{});
  EXPECT_EQ(m.files.det.family, library::Family::kSDXL);
  EXPECT_DOUBLE_EQ(m.files.vae_scaling_factor, 0.13025);
  EXPECT_EQ(m.files.pad_id, 49407);
  EXPECT_EQ(m.files.pad_id2, 0);
  auto file = io::SafetensorsFile::Open(Fixture("golden/sdxl_text.safetensors")).ValueOrThrow();
  StateDict g = LoadSafetensors(file);
  const ConditionParams params = GoldenParams(file->metadata());

  auto [pos, neg] = m.text->Encode(file->metadata().at("emph_prompt"), "", params).ValueOrThrow();
  ExpectClose(pos.context, g.at("emph_context"), kTextTol, "emphasis context");
  ExpectClose(pos.y, g.at("emph_y"), kTextTol, "emphasis y (pooled ++ sizes)");
  // A1111: the empty negative is zeros (context and pooled); y keeps the size embeddings.
  EXPECT_EQ(neg.context.abs().max().item<double>(), 0.0);
  ExpectClose(neg.y, g.at("empty_negative_y"), kTextTol, "empty negative y");

  auto [lpos, lneg] = m.text->Encode(file->metadata().at("long_prompt"), "", params).ValueOrThrow();
  ExpectClose(lpos.context, g.at("long_context"), kTextTol, "long prompt context (2 chunks)");
  ExpectClose(lpos.y, g.at("long_y"), kTextTol, "long prompt y (first chunk pooled)");
  EXPECT_EQ(lneg.context.sizes(), lpos.context.sizes());
}

INSTANTIATE_TEST_SUITE_P(Layouts, SdxlText, ::testing::Values("sdxl", "sdxl.safetensors"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "sdxl" ? std::string("Folder")
                                                       : std::string("SingleFile");
                         });

TEST(SdxlGolden, UnetForwardWithY) {
  const StateDict g = LoadFixture("golden/sdxl_unet.safetensors");
  for (const char* model : {"sdxl", "sdxl.safetensors"}) {
    ModelFiles files =
        LoadModelFiles(Fixture(model), "",
                       std::string(model) == "sdxl" ? ModelFileOptions{} : TinyOptions())
            .ValueOrThrow();
    EXPECT_EQ(files.adm_in_channels, g.at("y").size(1));
    UNet unet = BuildUnet(files);
    torch::NoGradGuard no_grad;
    torch::Tensor out = unet->forward(g.at("x"), g.at("timesteps"), g.at("context"), g.at("y"));
    const auto e = Compare(out, g.at("out"));
    ExpectClose(out, g.at("out"), 1e-4 * std::max(1.0, e.ref_scale),
                std::string("UNet forward (") + model + ")");
  }
}

TEST(SdxlGolden, Refiner) {
  // The refiner file carries no VAE: the base file's is taken (as users pair them).
  Loaded m = LoadText("sdxl_refiner.safetensors", "sdxl.safetensors", TinyOptions());
  EXPECT_EQ(m.files.det.variant, "refiner");
  EXPECT_TRUE(m.files.IsSdxlRefiner());
  EXPECT_EQ(m.text->text_encoder(), nullptr);
  EXPECT_NE(m.text->text_encoder2(), nullptr);
  auto file =
      io::SafetensorsFile::Open(Fixture("golden/sdxl_refiner_text.safetensors")).ValueOrThrow();
  StateDict g = LoadSafetensors(file);
  const auto& meta = file->metadata();
  ConditionParams params = GoldenParams(meta);
  params.aesthetic_score = std::stod(meta.at("aesthetic_score"));
  params.negative_aesthetic_score = std::stod(meta.at("negative_aesthetic_score"));
  auto [pos, neg] = m.text->Encode(meta.at("prompt"), meta.at("negative"), params).ValueOrThrow();
  ExpectClose(pos.context, g.at("context"), kTextTol, "refiner context");
  ExpectClose(pos.y, g.at("y"), kTextTol, "refiner y (aesthetic 6)");
  ExpectClose(neg.context, g.at("neg_context"), kTextTol, "refiner negative context");
  ExpectClose(neg.y, g.at("neg_y"), kTextTol, "refiner negative y (aesthetic 2.5)");

  const StateDict u = LoadFixture("golden/sdxl_refiner_unet.safetensors");
  UNet unet = BuildUnet(m.files);
  torch::NoGradGuard no_grad;
  torch::Tensor out = unet->forward(u.at("x"), u.at("timesteps"), u.at("context"), u.at("y"));
  ExpectClose(out, u.at("out"), 1e-4 * std::max(1.0, Compare(out, u.at("out")).ref_scale),
              "refiner UNet forward");
}

TEST(SdxlGolden, GenerationThroughSdPipeline) {
  auto file =
      io::SafetensorsFile::Open(Fixture("golden/sdxl_gen_euler_normal.safetensors")).ValueOrThrow();
  const auto& meta = file->metadata();
  StateDict g = LoadSafetensors(file);
  auto pipe = SdPipeline::Load(Fixture("sdxl"), "", "cpu", "fp32").ValueOrThrow();
  EXPECT_EQ(pipe->info().family, "SDXL");

  GenerateRequest r;
  r.model_path = Fixture("sdxl");
  r.prompt = meta.at("prompt");
  r.negative_prompt = meta.at("negative");
  r.steps = std::stoi(meta.at("steps"));
  r.cfg_scale = std::stod(meta.at("cfg"));
  r.seed = std::stoll(meta.at("seed"));
  r.sampler = meta.at("sampler");
  r.scheduler = meta.at("scheduler");
  r.width = std::stoi(meta.at("width"));
  r.height = std::stoi(meta.at("height"));

  ConditionParams cp;
  cp.width = r.width;
  cp.height = r.height;
  auto conds = pipe->EncodePrompts(r.prompt, r.negative_prompt, cp).ValueOrThrow();
  ExpectClose(conds.first.context, g.at("cond"), kTextTol, "generation cond");
  ExpectClose(conds.second.context, g.at("uncond"), kTextTol, "generation uncond");
  ExpectClose(conds.first.y, g.at("y_cond"), kTextTol, "generation y cond");
  ExpectClose(conds.second.y, g.at("y_uncond"), kTextTol, "generation y uncond");

  torch::Tensor latent = pipe->SampleLatents(r).ValueOrThrow();
  const auto lat = Compare(latent, g.at("latent"));
  ExpectClose(latent, g.at("latent"), 1e-4 * std::max(1.0, lat.ref_scale), "generation latent");
  torch::Tensor image = pipe->DecodeLatents(g.at("latent")).ValueOrThrow();
  ExpectClose(image, g.at("image"), 1e-4, "generation image (VAE 0.13025)");

  // The whole txt2img path (what `easel generate --model sdxl` runs) at another size.
  r.width = 72;
  r.height = 80;
  r.steps = 2;
  auto images = pipe->Txt2Img(r).ValueOrThrow();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].width, 72);
  EXPECT_EQ(images[0].height, 80);
}

// kohya (lora_unet_ in SGM names, lora_te1_, lora_te2_) and peft (unet.*, text_encoder.*,
// text_encoder_2.*) against diffusers with reference weights + strength * delta.
class SdxlLora : public ::testing::TestWithParam<std::string> {};

TEST_P(SdxlLora, MatchesReference) {
  const std::string fmt = GetParam();
  auto ref_file =
      io::SafetensorsFile::Open(Fixture("golden/sdxl_lora_reference.safetensors")).ValueOrThrow();
  const StateDict ref = LoadSafetensors(ref_file);
  const double unet_strength = std::stod(ref_file->metadata().at("unet_strength"));
  const double te_strength = std::stod(ref_file->metadata().at("te_strength"));
  Loaded m = LoadText("sdxl");
  UNet unet = BuildUnet(m.files);

  LoraFile lora = LoadLora(Fixture("sdxl_lora/" + fmt + ".safetensors")).ValueOrThrow();
  LoraMatch match =
      MatchLora(lora, NamedParameters(*unet), NamedParameters(*m.text->text_encoder()),
                NamedParameters(*m.text->text_encoder2()))
          .ValueOrThrow();
  EXPECT_EQ(match.family_guess, "SDXL");
  EXPECT_TRUE(match.unmatched_keys.empty()) << match.unmatched_keys.front();
  EXPECT_EQ(match.applied.size(), 12u);

  const StateDict before = NamedParameters(*unet);
  std::map<std::string, torch::Tensor> originals;
  for (const auto& [k, v] : before) originals[k] = v.clone();
  {
    LoraPatcher patcher;
    ASSERT_TRUE(patcher
                    .Apply({{&match, unet_strength, te_strength}}, unet.get(),
                           m.text->text_encoder(), m.text->text_encoder2())
                    .ok());
    const StateDict u = LoadFixture("golden/sdxl_unet.safetensors");
    torch::NoGradGuard no_grad;
    torch::Tensor out = unet->forward(u.at("x"), u.at("timesteps"), u.at("context"), u.at("y"));
    const torch::Tensor& want = ref.at(fmt + ".unet_out");
    ExpectClose(out, want, 1e-4 * std::max(1.0, Compare(out, want).ref_scale),
                fmt + " LoRA UNet forward");
    auto tf = io::SafetensorsFile::Open(Fixture("golden/sdxl_text.safetensors")).ValueOrThrow();
    auto [pos, neg] =
        m.text->Encode(ref_file->metadata().at("prompt"), "", GoldenParams(tf->metadata()))
            .ValueOrThrow();
    ExpectClose(pos.context, ref.at(fmt + ".context"), kTextTol, fmt + " LoRA context");
    const torch::Tensor& pooled = ref.at(fmt + ".pooled");
    ExpectClose(pos.y.slice(1, 0, pooled.size(1)), pooled, kTextTol, fmt + " LoRA pooled");
  }
  // Restored bit for bit.
  for (const auto& [k, v] : NamedParameters(*unet)) EXPECT_TRUE(torch::equal(v, originals[k])) << k;
}

INSTANTIATE_TEST_SUITE_P(Formats, SdxlLora, ::testing::Values("kohya", "peft"));

}  // namespace
}  // namespace easel::engine

// Hires fix and refiner: latent/image upscalers, whole hires runs on the tiny sd1 fixture,
// A1111's infotext keys written and parsed back, and the refiner mechanism (a second pipeline
// continuing from the switch step with its own conditioning and the same noise sampler).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "engine/pipeline/img2img.h"
#include "engine/pipeline/sd_pipeline.h"
#include "io/infotext.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

SdPipeline& Sd1() {
  static std::unique_ptr<SdPipeline> p =
      SdPipeline::Load(EASEL_FIXTURES_DIR "/sd1", "", "cpu", "fp32").ValueOrThrow();
  return *p;
}

GenerateRequest Base() {
  GenerateRequest r;
  r.model_path = EASEL_FIXTURES_DIR "/sd1";
  r.prompt = "a fox in the snow";
  r.negative_prompt = "blurry";
  r.steps = 4;
  r.seed = 3;
  r.width = 64;
  r.height = 64;
  return r;
}

TEST(Hires, UpscalersResizeAndKeepConstants) {
  torch::Tensor z = torch::full({2, 4, 8, 8}, 0.5);
  for (const char* name : {"Latent", "Latent (bilinear)", "Latent (nearest-exact)"}) {
    torch::Tensor up = UpscaleLatent(z, 12, 16, name);
    EXPECT_EQ(up.sizes(), torch::IntArrayRef({2, 4, 12, 16})) << name;
    EXPECT_LT((up - 0.5).abs().max().item<double>(), 1e-6) << name;
    EXPECT_TRUE(IsLatentUpscaler(name));
  }
  torch::Tensor img = torch::full({1, 3, 16, 16}, -0.25);
  for (const char* name : {"Lanczos", "Bicubic", "Nearest"}) {
    torch::Tensor up = UpscaleImage(img, 32, 24, name);
    EXPECT_EQ(up.sizes(), torch::IntArrayRef({1, 3, 32, 24})) << name;
    EXPECT_LT((up + 0.25).abs().max().item<double>(), 1e-5) << name;
    EXPECT_FALSE(IsLatentUpscaler(name));
  }
  EXPECT_THROW(UpscaleLatent(z, 9, 9, "Lanczos"), Error);
}

TEST(Hires, TwoPassesGiveTheScaledSizeAndCountEveryStep) {
  GenerateRequest r = Base();
  r.enable_hr = true;
  r.hr_scale = 1.5;
  r.hr_second_pass_steps = 4;
  r.hr_denoising_strength = 0.5;  // 2 + 1 = 3 second-pass steps
  int last_step = 0, last_total = 0;
  auto progress = [&](const Progress& p) {
    last_step = p.step;
    last_total = p.total;
    return true;
  };
  for (const char* up : {"Latent", "Latent (nearest-exact)", "Lanczos"}) {
    r.hr_upscaler = up;
    auto images = Sd1().Generate(r, progress);
    ASSERT_TRUE(images.ok()) << up << ": " << images.status().ToString();
    EXPECT_EQ((*images)[0].width, 96) << up;
    EXPECT_EQ((*images)[0].height, 96) << up;
    EXPECT_EQ(last_total, 4 + 3) << up;
    EXPECT_EQ(last_step, last_total) << up;
  }
  // Deterministic; and the second pass really changes the upscaled first pass.
  r.hr_upscaler = "Latent";
  torch::Tensor a = Sd1().SampleLatents(r).ValueOrThrow();
  EXPECT_TRUE(torch::equal(a, Sd1().SampleLatents(r).ValueOrThrow()));
  GenerateRequest first = Base();
  torch::Tensor up = UpscaleLatent(Sd1().SampleLatents(first).ValueOrThrow(), 12, 12, "Latent");
  EXPECT_GT((a - up).abs().mean().item<double>(), 1e-3);
}

TEST(Hires, InfotextKeysAreWrittenAndParsedBack) {
  GenerateRequest r = Base();
  r.enable_hr = true;
  r.hr_scale = 2;
  r.hr_second_pass_steps = 12;
  r.hr_upscaler = "Latent (nearest-exact)";
  r.hr_denoising_strength = 0.45;
  r.refiner_checkpoint = "/models/refiner_v1.safetensors";
  r.refiner_switch_at = 0.8;
  ModelInfo model;
  model.name = "sd1";
  const std::string text = io::FormatInfotext(MakeInfotext(r, model, "", 3));
  const io::Infotext back = io::ParseInfotext(text);
  auto value = [&](const char* key) {
    const std::string* v = back.Find(key);
    return v ? *v : std::string("<missing>");
  };
  EXPECT_EQ(value("Denoising strength"), "0.45");
  EXPECT_EQ(value("Hires upscale"), "2");
  EXPECT_EQ(value("Hires steps"), "12");
  EXPECT_EQ(value("Hires upscaler"), "Latent (nearest-exact)");
  EXPECT_EQ(value("Refiner"), "refiner_v1");
  EXPECT_EQ(value("Refiner switch at"), "0.8");
  EXPECT_EQ(value("Size"), "64x64");  // A1111 records the first pass's size
  EXPECT_NE(text.find("Hires upscaler: Latent (nearest-exact)"), std::string::npos) << text;

  GenerateRequest edit = Base();
  edit.init_image = "/in/a.png";
  edit.mask = "/in/m.png";
  edit.denoising_strength = 0.6;
  edit.inpaint_full_res = true;
  const io::Infotext e = io::ParseInfotext(io::FormatInfotext(MakeInfotext(edit, model, "", 3)));
  EXPECT_EQ(*e.Find("Denoising strength"), "0.6");
  EXPECT_EQ(*e.Find("Mask blur"), "4");
  EXPECT_EQ(*e.Find("Inpaint area"), "Only masked");
  EXPECT_EQ(*e.Find("Masked area padding"), "32");
  EXPECT_EQ(*e.Find("Masked content"), "original");
}

TEST(Refiner, SameModelAsRefinerReproducesTheBaseRunExactly) {
  // sd1 refined by sd1: switching models mid-way must not change anything, so the split,
  // the conditioning and the continued noise sampler are all exactly right. Euler a draws
  // noise at every step: a restarted noise sampler would show.
  GenerateRequest r = Base();
  r.sampler = "euler_ancestral";
  torch::Tensor base = Sd1().SampleLatents(r).ValueOrThrow();
  r.refiner_checkpoint = EASEL_FIXTURES_DIR "/sd1";  // another instance of the same model
  for (double at : {0.25, 0.5, 0.75}) {
    r.refiner_switch_at = at;
    torch::Tensor refined = Sd1().SampleLatents(r).ValueOrThrow();
    EXPECT_LT((refined - base).abs().max().item<double>(), 1e-5) << at;
  }
}

TEST(Refiner, AnotherModelTakesOverFromTheSwitchStep) {
  GenerateRequest r = Base();
  torch::Tensor base = Sd1().SampleLatents(r).ValueOrThrow();
  r.refiner_checkpoint = EASEL_FIXTURES_DIR "/sd2v";  // a v-prediction model
  r.refiner_switch_at = 0.5;
  int calls = 0, total = 0;
  auto progress = [&](const Progress& p) {
    ++calls;
    total = p.total;
    return true;
  };
  torch::Tensor refined = Sd1().SampleLatents(r, progress).ValueOrThrow();
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(total, 4);
  EXPECT_GT((refined - base).abs().mean().item<double>(), 1e-3);
  // Switching at 1.0 leaves everything to the base model.
  r.refiner_switch_at = 1.0;
  EXPECT_TRUE(torch::equal(Sd1().SampleLatents(r).ValueOrThrow(), base));
  r.refiner_checkpoint = "/nonexistent/refiner.safetensors";
  r.refiner_switch_at = 0.5;
  auto missing = Sd1().SampleLatents(r);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("refiner"), std::string::npos);
}

}  // namespace
}  // namespace easel::engine

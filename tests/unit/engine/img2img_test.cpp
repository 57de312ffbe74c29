// img2img building blocks: A1111's strength-to-steps rule, resize modes, the Lanczos resampler,
// PNG -> tensor conversion, and whole img2img runs on the tiny sd1 fixture (determinism,
// strength ordering, batch seeds, size of a resized source).
#include "engine/pipeline/img2img.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "../core/io_temp_dir.h"
#include "engine/pipeline/edit_input.h"
#include "engine/pipeline/image_ops.h"
#include "engine/pipeline/sd_pipeline.h"
#include "io/png.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

TEST(Img2Img, StrengthFollowsA1111StepRule) {
  // t_enc = int(min(s, 0.999) * steps); start = steps - t_enc - 1 (t_enc + 1 steps run).
  EXPECT_EQ(Img2ImgStartIndex(20, 0.75), 4);  // 15 + 1 = 16 steps of 20
  EXPECT_EQ(Img2ImgStartIndex(5, 0.6), 1);    // 4 steps
  EXPECT_EQ(Img2ImgStartIndex(20, 1.0), 0);   // all 20 (0.999 * 20 = 19.98 -> 19)
  EXPECT_EQ(Img2ImgStartIndex(20, 0.0), 19);  // one step at the lowest sigma
  EXPECT_EQ(Img2ImgStartIndex(10, 0.55), 4);
}

TEST(Img2Img, RefinerSwitchStepRounds) {
  EXPECT_EQ(RefinerSwitchStep(20, 0.8), 16);
  EXPECT_EQ(RefinerSwitchStep(5, 0.5), 3);  // llround(2.5) = 3
  EXPECT_EQ(RefinerSwitchStep(5, 1.0), 5);
  EXPECT_EQ(RefinerSwitchStep(5, 0.01), 0);
}

TEST(ImageOps, LanczosKeepsConstantsAndIdentity) {
  torch::Tensor flat = torch::full({1, 3, 17, 23}, 0.25);
  EXPECT_LT((ResizeLanczos(flat, 40, 9) - 0.25).abs().max().item<double>(), 1e-5);
  torch::Tensor x = torch::rand({1, 3, 16, 16});
  EXPECT_TRUE(torch::equal(ResizeLanczos(x, 16, 16), x));
  // Shrinking by 2 then a smooth ramp stays a ramp (antialiased, no ringing on linear data).
  torch::Tensor ramp = torch::linspace(-1, 1, 64).view({1, 1, 1, 64}).expand({1, 1, 8, 64});
  torch::Tensor small = ResizeLanczos(ramp.contiguous(), 8, 32);
  torch::Tensor steps = small.slice(3, 1) - small.slice(3, 0, -1);
  EXPECT_GT(steps.slice(3, 3, -3).min().item<double>(), 0.0);
}

TEST(ImageOps, ResizeModesMatchA1111Geometry) {
  // A 100x50 source (2:1) into 64x64.
  torch::Tensor src = torch::zeros({1, 3, 50, 100});
  src.slice(3, 0, 50).fill_(1.0);  // left half white
  // 0: stretch; 1: crop the sides (centre columns 25..75 remain: half white, half black);
  // 2: fit (64x32 band in the middle), bars repeat the edge rows.
  torch::Tensor crop = ResizeToMode(src, 1, 64, 64);
  ASSERT_EQ(crop.sizes(), torch::IntArrayRef({1, 3, 64, 64}));
  EXPECT_NEAR(crop[0][0][32][5].item<double>(), 1.0, 1e-3);
  EXPECT_NEAR(crop[0][0][32][58].item<double>(), 0.0, 1e-3);
  torch::Tensor fit = ResizeToMode(src, 2, 64, 64);
  EXPECT_NEAR(fit[0][0][0][5].item<double>(), 1.0, 1e-3);  // bar: the edge row repeated
  EXPECT_NEAR(fit[0][0][63][60].item<double>(), 0.0, 1e-3);
  torch::Tensor stretch = ResizeToMode(src, 0, 64, 64);
  EXPECT_NEAR(stretch[0][0][10][10].item<double>(), 1.0, 1e-3);
  EXPECT_NEAR(stretch[0][0][10][54].item<double>(), 0.0, 1e-3);
}

TEST(ImageOps, PngConversionsAndMaskAlpha) {
  io::Image rgb{2, 1, 3, {0, 128, 255, 255, 255, 255}};
  torch::Tensor t = ImageToTensor(rgb);
  EXPECT_EQ(t.sizes(), torch::IntArrayRef({1, 3, 1, 2}));
  EXPECT_FLOAT_EQ(t[0][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t[0][2][0][0].item<float>(), 1.0f);
  // Opaque RGBA: luma; any transparency: the alpha channel is the mask.
  io::Image opaque{2, 1, 4, {255, 255, 255, 255, 0, 0, 0, 255}};
  EXPECT_NEAR(MaskToTensor(opaque)[0][0][0][0].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(MaskToTensor(opaque)[0][0][0][1].item<double>(), 0.0, 1e-6);
  io::Image alpha{2, 1, 4, {0, 0, 0, 255, 255, 255, 255, 0}};
  EXPECT_NEAR(MaskToTensor(alpha)[0][0][0][0].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(MaskToTensor(alpha)[0][0][0][1].item<double>(), 0.0, 1e-6);
}

GenerateRequest Img2ImgRequest(const std::string& init) {
  GenerateRequest r;
  r.model_path = EASEL_FIXTURES_DIR "/sd1";
  r.prompt = "a fox";
  r.negative_prompt = "blurry";
  r.steps = 4;
  r.seed = 5;
  r.width = 64;
  r.height = 64;
  r.init_image = init;
  r.denoising_strength = 0.5;
  return r;
}

SdPipeline& Sd1() {
  static std::unique_ptr<SdPipeline> p =
      SdPipeline::Load(EASEL_FIXTURES_DIR "/sd1", "", "cpu", "fp32").ValueOrThrow();
  return *p;
}

TEST(Img2Img, DeterministicAndStrengthMovesAwayFromTheInit) {
  const std::string init = EASEL_FIXTURES_DIR "/golden/edit_init.png";
  SdPipeline& pipe = Sd1();
  GenerateRequest r = Img2ImgRequest(init);
  torch::Tensor a = pipe.SampleLatents(r).ValueOrThrow();
  torch::Tensor b = pipe.SampleLatents(r).ValueOrThrow();
  EXPECT_TRUE(torch::equal(a, b));
  const io::Image png = io::ReadPng(init).ValueOrThrow();
  torch::Tensor z0 = pipe.EncodeImages(ImageToTensor(png)).ValueOrThrow();
  r.denoising_strength = 0.1;
  const double low = (pipe.SampleLatents(r).ValueOrThrow() - z0).abs().mean().item<double>();
  r.denoising_strength = 0.9;
  const double high = (pipe.SampleLatents(r).ValueOrThrow() - z0).abs().mean().item<double>();
  EXPECT_LT(low, high);
  // Batch image i == the single image of seed + i.
  r.batch = 2;
  torch::Tensor batch = pipe.SampleLatents(r).ValueOrThrow();
  r.batch = 1;
  r.seed = 6;
  EXPECT_LT((batch[1] - pipe.SampleLatents(r).ValueOrThrow()[0]).abs().max().item<double>(), 1e-4);
}

TEST(Img2Img, SourceOfAnotherSizeIsResizedByMode) {
  testing::TempDir dir;
  std::vector<uint8_t> px(40 * 100 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7 % 251);
  const std::string path = dir.File("wide.png");
  ASSERT_TRUE(io::WritePng(path, px.data(), 100, 40, 3).ok());
  GenerateRequest r = Img2ImgRequest(path);
  r.width = 64;
  r.height = 72;
  for (int mode : {0, 1, 2, 3}) {
    r.resize_mode = mode;
    auto images = Sd1().Generate(r);
    ASSERT_TRUE(images.ok()) << mode << ": " << images.status().ToString();
    EXPECT_EQ((*images)[0].width, 64) << mode;
    EXPECT_EQ((*images)[0].height, 72) << mode;
  }
}

TEST(Img2Img, MissingInitImageIsAnIoError) {
  GenerateRequest r = Img2ImgRequest("/nonexistent/init.png");
  auto res = Sd1().Generate(r);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.status().message().find("init image"), std::string::npos)
      << res.status().ToString();
}

}  // namespace
}  // namespace easel::engine

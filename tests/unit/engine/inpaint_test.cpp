// Inpainting and outpainting: mask preparation (invert, blur, only-masked crop, outpaint
// margins), the errors a user can meet (mask of another size, empty mask), latent masking, and
// whole runs on the tiny sd1 fixture checking that what is outside the mask stays the init
// image's bytes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "../core/io_temp_dir.h"
#include "engine/pipeline/edit_denoiser.h"
#include "engine/pipeline/edit_input.h"
#include "engine/pipeline/image_ops.h"
#include "engine/pipeline/sd_pipeline.h"
#include "io/png.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

const std::string kInit = EASEL_FIXTURES_DIR "/golden/edit_init.png";
const std::string kMask = EASEL_FIXTURES_DIR "/golden/edit_mask.png";  // x 16..48, y 24..56

SdPipeline& Sd1() {
  static std::unique_ptr<SdPipeline> p =
      SdPipeline::Load(EASEL_FIXTURES_DIR "/sd1", "", "cpu", "fp32").ValueOrThrow();
  return *p;
}

GenerateRequest InpaintRequest() {
  GenerateRequest r;
  r.model_path = EASEL_FIXTURES_DIR "/sd1";
  r.prompt = "a fox";
  r.steps = 3;
  r.seed = 9;
  r.width = 64;
  r.height = 64;
  r.init_image = kInit;
  r.mask = kMask;
  r.mask_blur = 0;
  r.denoising_strength = 0.8;
  return r;
}

torch::Tensor Bytes(const GeneratedImage& img) {
  return torch::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.height, img.width, 3},
                          torch::kUInt8)
      .to(torch::kInt32);
}

torch::Tensor PngBytes(const std::string& path) {
  io::Image png = io::ReadPng(path).ValueOrThrow();
  return torch::from_blob(png.pixels.data(), {png.height, png.width, png.channels}, torch::kUInt8)
      .slice(2, 0, 3)
      .to(torch::kInt32)
      .clone();
}

TEST(Inpaint, MaskOfAnotherSizeIsAClearError) {
  testing::TempDir dir;
  std::vector<uint8_t> px(32 * 48 * 3, 255);
  const std::string small = dir.File("small_mask.png");
  ASSERT_TRUE(io::WritePng(small, px.data(), 48, 32, 3).ok());
  GenerateRequest r = InpaintRequest();
  r.mask = small;
  auto res = Sd1().Generate(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kInvalidArgument);
  EXPECT_NE(res.status().message().find("48x32"), std::string::npos) << res.status().message();
  EXPECT_NE(res.status().message().find("64x64"), std::string::npos) << res.status().message();
}

TEST(Inpaint, EmptyMaskWithOnlyMaskedIsAClearError) {
  testing::TempDir dir;
  std::vector<uint8_t> px(64 * 64 * 3, 0);
  const std::string black = dir.File("black.png");
  ASSERT_TRUE(io::WritePng(black, px.data(), 64, 64, 3).ok());
  GenerateRequest r = InpaintRequest();
  r.mask = black;
  r.inpaint_full_res = true;
  auto res = Sd1().Generate(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kInvalidArgument);
  EXPECT_NE(res.status().message().find("empty"), std::string::npos);
}

TEST(Inpaint, InvertBlurAndOutpaintShapeTheMask) {
  GenerateRequest r = InpaintRequest();
  torch::Tensor image = torch::zeros({1, 3, 64, 64});
  torch::Tensor mask = torch::zeros({1, 1, 64, 64});
  mask.slice(2, 24, 56).slice(3, 16, 48).fill_(1.0);
  r.inpainting_mask_invert = 1;
  EditInput e = PrepareEditTensors(r, image, mask);
  EXPECT_EQ(e.mask[0][0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(e.mask[0][0][30][30].item<float>(), 0.0f);
  r.inpainting_mask_invert = 0;
  r.mask_blur = 4;
  e = PrepareEditTensors(r, image, mask);
  const float edge = e.mask[0][0][24][30].item<float>();
  EXPECT_GT(edge, 0.3f);
  EXPECT_LT(edge, 0.7f);  // the blurred edge is about half
  // Outpaint 5 left (-> 8), 16 right, 0 top, 1 bottom (-> 8): canvas 88 x 72.
  r.mask_blur = 0;
  r.outpaint = {5, 16, 0, 1};
  e = PrepareEditTensors(r, image, torch::Tensor());
  EXPECT_EQ(e.width, 88);
  EXPECT_EQ(e.height, 72);
  EXPECT_EQ(e.mask[0][0][10][3].item<float>(), 1.0f);   // new left margin
  EXPECT_EQ(e.mask[0][0][10][20].item<float>(), 0.0f);  // original
  EXPECT_EQ(e.mask[0][0][70][20].item<float>(), 1.0f);  // new bottom margin
  EXPECT_EQ(OutputWidth(r), 88);
  EXPECT_EQ(OutputHeight(r), 72);
}

TEST(Inpaint, OnlyMaskedCropsTheBoxAtTheSamplingAspect) {
  GenerateRequest r = InpaintRequest();
  r.inpaint_full_res = true;
  r.inpaint_full_res_padding = 4;
  r.width = 64;
  r.height = 64;
  torch::Tensor image = torch::zeros({1, 3, 100, 120});
  torch::Tensor mask = torch::zeros({1, 1, 100, 120});
  mask.slice(2, 40, 50).slice(3, 60, 90).fill_(1.0);  // 30 x 10
  EditInput e = PrepareEditTensors(r, image, mask);
  EXPECT_EQ(e.width, 64);
  EXPECT_EQ(e.height, 64);
  // Box x 56..94, y 36..54 (padding 4), grown to square 38 x 38 around its centre.
  EXPECT_EQ(e.crop.width(), 38);
  EXPECT_EQ(e.crop.height(), 38);
  EXPECT_EQ(e.crop.x0, 56);
  EXPECT_EQ(e.crop.y0, 26);
  // Pasting back gives the whole picture again.
  torch::Tensor pasted = PasteBack(e, torch::ones({1, 3, 64, 64}));
  EXPECT_EQ(pasted.sizes(), torch::IntArrayRef({1, 3, 100, 120}));
  EXPECT_NEAR(pasted[0][0][45][70].item<double>(), 1.0, 1e-3);        // masked: the result
  EXPECT_NEAR(pasted[0][0][5][5].item<double>(), 1.0 / 255.0, 1e-6);  // kept: the original
}

TEST(Inpaint, MaskedDenoiserKeepsTheUnmaskedLatent) {
  torch::Tensor init = torch::randn({1, 4, 8, 8}), noise = torch::randn({1, 4, 8, 8});
  torch::Tensor mask = torch::zeros({1, 1, 8, 8});
  mask.slice(3, 4).fill_(1.0);
  torch::Tensor seen;
  DenoiseFn inner = [&](const torch::Tensor& x, const torch::Tensor&) {
    seen = x.clone();
    return torch::full_like(x, 7.0);
  };
  MaskedDenoiser d(inner, mask, init, noise);
  torch::Tensor x = torch::randn({1, 4, 8, 8});
  torch::Tensor sigma = torch::full({1}, 2.0);
  torch::Tensor x0 = d(x, sigma);
  // The model saw init + noise * sigma where kept, x where masked; x0 is init where kept.
  EXPECT_TRUE(torch::allclose(seen.slice(3, 0, 4), (init + noise * 2.0).slice(3, 0, 4)));
  EXPECT_TRUE(torch::allclose(seen.slice(3, 4), x.slice(3, 4)));
  EXPECT_TRUE(torch::allclose(x0.slice(3, 0, 4), init.slice(3, 0, 4)));
  EXPECT_TRUE(torch::allclose(x0.slice(3, 4), torch::full({1, 4, 8, 4}, 7.0)));
}

TEST(Inpaint, PixelsOutsideTheMaskAreTheInitImageBytes) {
  GenerateRequest r = InpaintRequest();
  for (int fill : {0, 1, 2, 3}) {
    r.inpainting_fill = fill;
    auto res = Sd1().Generate(r);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    torch::Tensor got = Bytes((*res)[0]), want = PngBytes(kInit);
    torch::Tensor keep = torch::ones({64, 64, 1}, torch::kBool);
    keep.slice(0, 24, 56).slice(1, 16, 48).fill_(false);
    EXPECT_EQ((got - want).abs().masked_select(keep).max().item<int>(), 0) << "fill " << fill;
    EXPECT_GT((got - want).abs().slice(0, 24, 56).slice(1, 16, 48).max().item<int>(), 0);
  }
}

TEST(Inpaint, OutpaintGrowsTheCanvasAndKeepsTheMiddle) {
  GenerateRequest r = InpaintRequest();
  r.mask.clear();
  r.mask_blur = 2;
  r.outpaint = {16, 0, 8, 0};
  auto res = Sd1().Generate(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)[0].width, 80);
  EXPECT_EQ((*res)[0].height, 72);
  // Far from the seam (blur radius 5) the picture is the init image.
  torch::Tensor got = Bytes((*res)[0]).slice(0, 8 + 8).slice(1, 16 + 8);
  torch::Tensor want = PngBytes(kInit).slice(0, 8).slice(1, 8);
  EXPECT_EQ((got - want).abs().max().item<int>(), 0);
}

TEST(Inpaint, OnlyMaskedKeepsTheInitImageSize) {
  GenerateRequest r = InpaintRequest();
  r.inpaint_full_res = true;
  r.inpaint_full_res_padding = 8;
  r.width = 64;
  r.height = 96;
  auto res = Sd1().Generate(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)[0].width, 64);
  EXPECT_EQ((*res)[0].height, 64);
  torch::Tensor got = Bytes((*res)[0]), want = PngBytes(kInit);
  EXPECT_EQ((got - want).abs().slice(0, 0, 20).max().item<int>(), 0);  // above the mask
}

TEST(Inpaint, NineChannelModelRunsTxt2ImgAndImg2Img) {
  ModelFileOptions options;
  options.text_heads = 2;  // the tiny fixture's text encoder (16 wide, 2 heads)
  auto pipe = SdPipeline::Load(EASEL_FIXTURES_DIR "/sd1_inpaint/sd1_inpaint.safetensors", "", "cpu",
                               "fp32", "", options);
  ASSERT_TRUE(pipe.ok()) << pipe.status().ToString();
  GenerateRequest r = InpaintRequest();
  r.model_path = EASEL_FIXTURES_DIR "/sd1_inpaint/sd1_inpaint.safetensors";
  r.init_image.clear();
  r.mask.clear();
  r.text_heads = 2;
  auto txt = (*pipe)->Generate(r);  // text-to-image: everything masked
  EXPECT_TRUE(txt.ok()) << txt.status().ToString();
  r.init_image = kInit;
  auto img = (*pipe)->Generate(r);  // img2img: everything masked
  EXPECT_TRUE(img.ok()) << img.status().ToString();
}

}  // namespace
}  // namespace easel::engine

// img2img against the reference (tools/make_edit_goldens.py: A1111's strength rule over
// ComfyUI-style sampling with diffusers' UNet/VAE, cross-checked there against diffusers'
// StableDiffusionImg2ImgPipeline): strength 0.6 of 5 euler steps, posterior-mean latents.
// Tolerances: see CheckEditGolden.
#include <gtest/gtest.h>

#include "img2img_golden_util.h"

namespace easel::engine {
namespace {

TEST(Img2ImgGolden, Sd1Strength06MatchesReference) {
  testing::CheckEditGolden("img2img_sd1.safetensors");
}

}  // namespace
}  // namespace easel::engine

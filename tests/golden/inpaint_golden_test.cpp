// Inpainting against the reference (tools/make_edit_goldens.py): a normal SD1 model with
// latent masking at each step (cross-checked there against diffusers'
// StableDiffusionInpaintPipeline), the same with a blurred mask and latent-noise fill, and a
// 9-channel inpainting UNet (tests/fixtures/sd1_inpaint) whose concat conditioning was
// cross-checked against diffusers' 9-channel pipeline. Tolerances: see CheckEditGolden.
#include <gtest/gtest.h>

#include "img2img_golden_util.h"

namespace easel::engine {
namespace {

TEST(InpaintGolden, Sd1LatentMaskingMatchesReference) {
  testing::CheckEditGolden("inpaint_sd1.safetensors");
}

TEST(InpaintGolden, Sd1BlurredMaskLatentNoiseFillMatchesReference) {
  testing::CheckEditGolden("inpaint_sd1_blur.safetensors");
}

TEST(InpaintGolden, NineChannelInpaintingUnetMatchesReference) {
  testing::CheckEditGolden("inpaint_sd1_inpaint.safetensors");
}

}  // namespace
}  // namespace easel::engine

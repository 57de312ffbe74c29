// Live previews: a cheap picture of the denoiser's current x0 prediction, sent to clients every
// few steps while a job runs. No VAE: each latent pixel goes through a fixed linear map from
// the 4 latent channels to RGB, then is upsampled by nearest neighbour. The map is the one
// fitted by Keturn for the SD1.x/SD2.x VAE ("Decoding latents to RGB without upscaling",
// discuss.huggingface.co, 2022): good enough to see composition and colour, not detail.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/pipeline/sd_pipeline.h"
#include "util/status.h"

namespace easel::engine {

struct PreviewImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3
};

// x0: [N, 4, h, w] latent in the UNet's scale (any device and float dtype); previews image 0,
// upsampled by the largest integer factor (1..8) that keeps both sides <= max_side.
// kInvalidArgument for another shape.
Result<PreviewImage> LatentPreview(const torch::Tensor& x0, int max_side = 256);

// Standard base64 (RFC 4648, with padding), for PNG bytes in JSON messages.
std::string Base64Encode(std::string_view bytes);

// The x0 prediction carried by a step's Progress, or nullptr when there is none.
// Progress gains a `denoised` tensor in a pending change to sd_pipeline.h; until then this
// returns nullptr and no previews are sent. (Detected at compile time so the worker needs no
// edit when the field lands.)
const torch::Tensor* DenoisedOf(const Progress& progress);

}  // namespace easel::engine

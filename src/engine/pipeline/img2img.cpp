// img2img step arithmetic and hires-fix resizes (see img2img.h).
#include "engine/pipeline/img2img.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "engine/pipeline/image_ops.h"
#include "util/status.h"

namespace easel::engine {
namespace {
namespace F = torch::nn::functional;

// PyTorch's "nearest-exact": output pixel i takes input floor((i + 0.5) * in / out), along
// dims 2 and 3 (by index, which avoids libtorch 1.13's spurious align_corners warning).
torch::Tensor NearestExact(const torch::Tensor& x, int64_t height, int64_t width) {
  auto index = [&](int64_t in, int64_t out) {
    torch::Tensor i = torch::arange(out, torch::kFloat64)
                          .add_(0.5)
                          .mul_(static_cast<double>(in) / static_cast<double>(out));
    return i.floor_().clamp_(0, static_cast<double>(in - 1)).to(torch::kLong).to(x.device());
  };
  return x.index_select(2, index(x.size(2), height)).index_select(3, index(x.size(3), width));
}

}  // namespace

int64_t Img2ImgStartIndex(int steps, double strength) {
  const int64_t t_enc = static_cast<int64_t>(std::min(strength, 0.999) * steps);
  return std::max<int64_t>(0, steps - t_enc - 1);
}

int64_t RefinerSwitchStep(int64_t steps, double switch_at) {
  return std::clamp<int64_t>(std::llround(switch_at * static_cast<double>(steps)), 0, steps);
}

bool IsLatentUpscaler(const std::string& upscaler) {
  return upscaler.rfind("Latent", 0) == 0;
}

torch::Tensor UpscaleLatent(const torch::Tensor& latent, int64_t height, int64_t width,
                            const std::string& upscaler) {
  auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{height, width});
  if (upscaler == "Latent" || upscaler == "Latent (bilinear)") {
    options.mode(torch::kBilinear).align_corners(false);
  } else if (upscaler == "Latent (nearest-exact)") {
    return NearestExact(latent, height, width);
  } else {
    throw Error(Code::kInvalidArgument, "'" + upscaler + "' is not a latent upscaler");
  }
  return F::interpolate(latent, options);
}

torch::Tensor UpscaleImage(const torch::Tensor& image, int64_t height, int64_t width,
                           const std::string& upscaler) {
  if (upscaler == "Lanczos") return ResizeLanczos(image, height, width).clamp(-1.0, 1.0);
  auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{height, width});
  if (upscaler == "Bicubic") {
    options.mode(torch::kBicubic).align_corners(false);
  } else if (upscaler == "Nearest") {
    return NearestExact(image, height, width).clamp(-1.0, 1.0);
  } else {
    throw Error(Code::kInvalidArgument, "'" + upscaler + "' is not an image upscaler");
  }
  return F::interpolate(image, options).clamp(-1.0, 1.0);
}

}  // namespace easel::engine

// The step arithmetic and resizes of img2img, the hires fix and the refiner switch.
//
// Denoising strength, A1111's rule (sd_samplers_common.setup_img2img_steps without
// "img2img_fix_steps"): t_enc = int(min(strength, 0.999) * steps); the sampler walks the last
// t_enc + 2 sigmas of the full `steps`-step schedule, i.e. t_enc + 1 steps starting at
// sigmas[steps - t_enc - 1], from init_latent + noise * that sigma.
//   diffusers (StableDiffusionImg2ImgPipeline) walks one step fewer: int(strength * steps)
//   steps from sigmas[steps - int(strength * steps)].
//   ComfyUI (KSampler denoise < 1) instead stretches the schedule: it makes int(steps /
//   denoise) steps and walks the last `steps` of them, so it always runs `steps` steps.
//
// Hires upscalers (A1111 names): "Latent" / "Latent (bilinear)" = bilinear latent resize
// (align_corners false, no antialias, as A1111's latent modes), "Latent (nearest-exact)";
// "Lanczos", "Bicubic", "Nearest" resize the decoded image.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace easel::engine {

// Index into the `steps + 1` sigmas where img2img starts (0 = the top sigma).
int64_t Img2ImgStartIndex(int steps, double strength);

// The refiner takes over at step round(switch_at * steps) (A1111's "Refiner switch at");
// `steps` when the base model does them all.
int64_t RefinerSwitchStep(int64_t steps, double switch_at);

bool IsLatentUpscaler(const std::string& upscaler);

// latent [N, C, h, w] -> [N, C, height, width] by a latent upscaler.
torch::Tensor UpscaleLatent(const torch::Tensor& latent, int64_t height, int64_t width,
                            const std::string& upscaler);

// image [N, 3, H, W] in [-1, 1] -> [N, 3, height, width] by an image upscaler (clamped).
torch::Tensor UpscaleImage(const torch::Tensor& image, int64_t height, int64_t width,
                           const std::string& upscaler);

}  // namespace easel::engine

// GenerateRequest: everything one generation job needs (text-to-image, img2img, inpainting,
// outpainting, hires fix, refiner), validated once into typed values.
//
// The CLI (and later the server) fills a request from its flags or JSON; Validate() is the
// one place limits live, and its messages name the field, the value and the accepted range.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace easel::engine {

// A LoRA to apply for one request: a file path, or a name looked up in loras_dir.
struct LoraRequest {
  std::string name_or_path;
  double unet_weight = 1.0;
  double text_encoder_weight = 1.0;
};

struct GenerateRequest {
  std::string model_path;  // single-file checkpoint or diffusers folder
  std::string vae_path;    // optional VAE overriding the checkpoint's
  std::string prompt;
  std::string negative_prompt;
  int steps = 20;
  double cfg_scale = 7.0;
  std::string sampler = "euler";     // ComfyUI or A1111 name
  std::string scheduler = "normal";  // ComfyUI or A1111 name
  int64_t seed = -1;                 // -1: pick a random seed (recorded in the output)
  int width = 512;
  int height = 512;
  int batch = 1;               // images; image i uses seed + i
  int clip_skip = 1;           // 1 = last text-encoder layer
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string dtype = "fp32";  // fp32 | fp16 | bf16
  std::string prediction;      // "" (detect) | eps | v
  int text_heads = 0;          // 0: the released models' rule (64 channels per head)
  // LoRAs from flags; `<lora:name:weight>` tags in the prompt add to these. Names resolve to
  // <loras_dir>/<name>.safetensors.
  std::vector<LoraRequest> loras;
  std::string loras_dir;
  std::string embeddings_dir;  // textual-inversion embeddings named in prompts

  // img2img (A1111's img2img API names and defaults). An init image turns the job into
  // img2img: it is resized to width x height by resize_mode, encoded, noised to
  // denoising_strength and sampled for int(strength * steps) + 1 steps (A1111).
  std::string init_image;            // path to a PNG; empty: text-to-image
  double denoising_strength = 0.75;  // 0..1
  int resize_mode = 0;  // 0 just resize, 1 crop and resize, 2 resize and fill, 3 latent upscale

  // Inpainting (needs init_image): white mask pixels are repainted.
  std::string mask;                   // path to a PNG of the init image's size
  int mask_blur = 4;                  // Gaussian sigma in pixels, 0..64
  bool inpaint_full_res = false;      // "only masked": work on the mask's bounding box
  int inpaint_full_res_padding = 32;  // pixels around that box, 0..256
  int inpainting_fill = 1;            // 0 fill, 1 original, 2 latent noise, 3 latent nothing
  int inpainting_mask_invert = 0;     // 1: repaint the black pixels instead
  // Outpainting (needs init_image): pixels added on the left, right, top and bottom of the
  // (resized) init image, each rounded up to a multiple of 8; the new region is filled from
  // the edges, masked and inpainted. The output is that much larger than width x height.
  std::array<int, 4> outpaint = {0, 0, 0, 0};

  // Hires fix (text-to-image only): a first pass at width x height, an upscale by hr_scale,
  // and a second img2img pass with hr_second_pass_steps (0: steps) at hr_denoising_strength.
  bool enable_hr = false;
  double hr_scale = 2.0;  // 1..4
  int hr_second_pass_steps = 0;
  std::string hr_upscaler = "Latent";  // see HiresUpscalerNames() in hires.h
  double hr_denoising_strength = 0.7;

  // Refiner: a second checkpoint continues sampling from step round(switch_at * steps).
  std::string refiner_checkpoint;
  double refiner_switch_at = 0.8;  // (0, 1]

  std::string vae_tiling = "auto";  // auto | on | off: tiled VAE encode/decode
};

// The output size of a request: width x height, plus the outpainted margins (rounded up to
// multiples of 8), times hr_scale (rounded down to a multiple of 8) for the hires fix.
int OutputWidth(const GenerateRequest& request);
int OutputHeight(const GenerateRequest& request);
// An outpaint margin rounded up to the VAE's 8-pixel grid.
int RoundUpTo8(int pixels);

// The hires_upscaler values: "Latent" (= "Latent (bilinear)") and "Latent (nearest-exact)"
// resize the latent (A1111's latent modes); "Lanczos", "Bicubic" and "Nearest" resize the
// decoded image, which is then encoded again.
extern const char* const kHiresUpscalers[6];

// Parses "NAME_OR_PATH[:WEIGHT]" or A1111's order "NAME_OR_PATH:TE_WEIGHT:UNET_WEIGHT".
Result<LoraRequest> ParseLoraFlag(const std::string& flag);

// Limits: sizes 64..4096 in steps of 8, width*height <= 4096*4096, steps 1..500, batch 1..64,
// cfg 0..100, clip skip 1..12, seed -1 or 0..2^63-1; strengths 0..1, the edit fields' ranges
// above, output sizes (outpaint, hires) <= 4096; a mask or outpaint needs an init image, the
// hires fix needs none. Names of samplers and schedulers are checked by the sampling layer.
Status Validate(const GenerateRequest& request);

}  // namespace easel::engine

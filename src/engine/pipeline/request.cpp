#include "engine/pipeline/request.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace easel::engine {
namespace {

Status CheckSize(const char* name, int value) {
  if (value < 64 || value > 4096)
    return InvalidArgument(std::string(name) + " " + std::to_string(value) +
                           " is out of range: use 64 to 4096 pixels");
  if (value % 8 != 0)
    return InvalidArgument(std::string(name) + " " + std::to_string(value) +
                           " is not a multiple of 8 (the VAE works on 8x8 pixel cells): try " +
                           std::to_string(value / 8 * 8) + " or " +
                           std::to_string((value / 8 + 1) * 8));
  return Status::Ok();
}

Status CheckUnit(const char* name, double value) {
  if (!(value >= 0.0 && value <= 1.0))
    return InvalidArgument(std::string(name) + " " + std::to_string(value) +
                           " is out of range: use 0 to 1");
  return Status::Ok();
}

Status CheckInt(const char* name, int value, int lo, int hi, const char* meaning = "") {
  if (value < lo || value > hi)
    return InvalidArgument(std::string(name) + " " + std::to_string(value) +
                           " is out of range: use " + std::to_string(lo) + " to " +
                           std::to_string(hi) + meaning);
  return Status::Ok();
}

Status ValidateEdit(const GenerateRequest& r) {
  const bool outpainting = r.outpaint != std::array<int, 4>{0, 0, 0, 0};
  if (r.init_image.empty()) {
    if (!r.mask.empty()) return InvalidArgument("a mask needs an init image: pass --init-image");
    if (outpainting) return InvalidArgument("outpainting needs an init image: pass --init-image");
  }
  EASEL_RETURN_IF_ERROR(CheckUnit("denoising strength", r.denoising_strength));
  EASEL_RETURN_IF_ERROR(CheckInt("resize mode", r.resize_mode, 0, 3,
                                 " (0 just resize, 1 crop and resize, 2 resize and fill, "
                                 "3 latent upscale)"));
  EASEL_RETURN_IF_ERROR(CheckInt("mask blur", r.mask_blur, 0, 64, " pixels"));
  EASEL_RETURN_IF_ERROR(CheckInt("inpaint padding", r.inpaint_full_res_padding, 0, 256, " pixels"));
  EASEL_RETURN_IF_ERROR(CheckInt("inpainting fill", r.inpainting_fill, 0, 3,
                                 " (0 fill, 1 original, 2 latent noise, 3 latent nothing)"));
  EASEL_RETURN_IF_ERROR(
      CheckInt("inpainting mask invert", r.inpainting_mask_invert, 0, 1, " (1 inverts)"));
  static const char* kSides[] = {"left", "right", "top", "bottom"};
  for (int i = 0; i < 4; ++i) {
    const std::string name = std::string("outpaint ") + kSides[i];
    EASEL_RETURN_IF_ERROR(
        CheckInt(name.c_str(), r.outpaint[static_cast<size_t>(i)], 0, 2048, " pixels"));
  }
  if (outpainting && r.inpaint_full_res)
    return InvalidArgument("outpainting works on the whole picture: drop --inpaint-only-masked");
  return Status::Ok();
}

Status ValidateHires(const GenerateRequest& r) {
  EASEL_RETURN_IF_ERROR(CheckUnit("hires denoising strength", r.hr_denoising_strength));
  if (!(r.hr_scale >= 1.0 && r.hr_scale <= 4.0))
    return InvalidArgument("hires scale " + std::to_string(r.hr_scale) +
                           " is out of range: use 1 to 4");
  EASEL_RETURN_IF_ERROR(
      CheckInt("hires steps", r.hr_second_pass_steps, 0, 500, " (0: the same as steps)"));
  bool known = false;
  for (const char* n : kHiresUpscalers) known = known || r.hr_upscaler == n;
  if (!known) {
    std::string names;
    for (const char* n : kHiresUpscalers) names += (names.empty() ? "" : ", ") + std::string(n);
    return InvalidArgument("hires upscaler '" + r.hr_upscaler + "' is unknown: use " + names);
  }
  if (r.enable_hr && !r.init_image.empty())
    return InvalidArgument("the hires fix is for text-to-image: drop it or the init image");
  return Status::Ok();
}

}  // namespace

const char* const kHiresUpscalers[6] = {"Latent",  "Latent (bilinear)", "Latent (nearest-exact)",
                                        "Lanczos", "Bicubic",           "Nearest"};

int RoundUpTo8(int pixels) {
  return (pixels + 7) / 8 * 8;
}

int OutputWidth(const GenerateRequest& r) {
  int w = r.width + RoundUpTo8(r.outpaint[0]) + RoundUpTo8(r.outpaint[1]);
  if (r.enable_hr) w = static_cast<int>(w * r.hr_scale) / 8 * 8;
  return w;
}

int OutputHeight(const GenerateRequest& r) {
  int h = r.height + RoundUpTo8(r.outpaint[2]) + RoundUpTo8(r.outpaint[3]);
  if (r.enable_hr) h = static_cast<int>(h * r.hr_scale) / 8 * 8;
  return h;
}

Status Validate(const GenerateRequest& r) {
  if (r.model_path.empty()) return InvalidArgument("no model given: pass --model PATH");
  EASEL_RETURN_IF_ERROR(CheckSize("width", r.width));
  EASEL_RETURN_IF_ERROR(CheckSize("height", r.height));
  if (r.steps < 1 || r.steps > 500)
    return InvalidArgument("steps " + std::to_string(r.steps) + " is out of range: use 1 to 500");
  if (r.batch < 1 || r.batch > 64)
    return InvalidArgument("batch " + std::to_string(r.batch) + " is out of range: use 1 to 64");
  if (!(r.cfg_scale >= 0.0 && r.cfg_scale <= 100.0))
    return InvalidArgument("cfg scale " + std::to_string(r.cfg_scale) +
                           " is out of range: use 0 to 100 (7 is typical)");
  if (r.clip_skip < 1 || r.clip_skip > 12)
    return InvalidArgument("clip skip " + std::to_string(r.clip_skip) +
                           " is out of range: use 1 (last layer) to 12");
  if (r.seed < -1) return InvalidArgument("seed must be -1 (random) or a non-negative integer");
  if (r.dtype != "fp32" && r.dtype != "fp16" && r.dtype != "bf16")
    return InvalidArgument("dtype '" + r.dtype + "' is unknown: use fp32, fp16 or bf16");
  if (r.device != "cpu" && r.device.rfind("cuda", 0) != 0)
    return InvalidArgument("device '" + r.device + "' is unknown: use cpu, cuda or cuda:N");
  if (!r.prediction.empty() && r.prediction != "eps" && r.prediction != "v")
    return InvalidArgument("prediction '" + r.prediction + "' is unknown: use eps or v");
  if (r.loras.size() > 16) return InvalidArgument("at most 16 LoRAs per request");
  for (const LoraRequest& l : r.loras) {
    if (l.name_or_path.empty()) return InvalidArgument("a LoRA without a name or path");
    if (!(std::abs(l.unet_weight) <= 10 && std::abs(l.text_encoder_weight) <= 10))
      return InvalidArgument("LoRA '" + l.name_or_path + "': weights must be within -10..10");
  }
  if (r.text_heads < 0 || r.text_heads > 64)
    return InvalidArgument("text heads " + std::to_string(r.text_heads) +
                           " is out of range: use 0 (automatic) to 64");
  if (r.prompt.size() > 64 * 1024 || r.negative_prompt.size() > 64 * 1024)
    return InvalidArgument("the prompt is longer than 64 KiB");
  EASEL_RETURN_IF_ERROR(ValidateEdit(r));
  EASEL_RETURN_IF_ERROR(ValidateHires(r));
  const int64_t ow = OutputWidth(r), oh = OutputHeight(r);
  if (ow > 4096 || oh > 4096)
    return InvalidArgument("the output would be " + std::to_string(ow) + "x" + std::to_string(oh) +
                           " pixels (outpaint margins and hires scale included): at most 4096 "
                           "per side");
  if (!(r.refiner_switch_at > 0.0 && r.refiner_switch_at <= 1.0))
    return InvalidArgument("refiner switch-at " + std::to_string(r.refiner_switch_at) +
                           " is out of range: use more than 0 and at most 1 (0.8 is typical)");
  if (r.vae_tiling != "auto" && r.vae_tiling != "on" && r.vae_tiling != "off")
    return InvalidArgument("vae tiling '" + r.vae_tiling + "' is unknown: use auto, on or off");
  return Status::Ok();
}

Result<LoraRequest> ParseLoraFlag(const std::string& flag) {
  // Weights are the trailing ':'-separated fields that parse as numbers; the rest is the name
  // (so a path holding ':' still works when weights are given).
  std::vector<double> weights;
  std::string name = flag;
  while (weights.size() < 2) {
    size_t colon = name.rfind(':');
    if (colon == std::string::npos) break;
    const std::string tail = name.substr(colon + 1);
    char* end = nullptr;
    double v = std::strtod(tail.c_str(), &end);
    if (tail.empty() || end != tail.c_str() + tail.size()) break;
    weights.insert(weights.begin(), v);
    name.resize(colon);
  }
  if (name.empty()) return InvalidArgument("--lora '" + flag + "': expected NAME_OR_PATH[:WEIGHT]");
  LoraRequest r;
  r.name_or_path = name;
  if (weights.size() == 1) r.unet_weight = r.text_encoder_weight = weights[0];
  if (weights.size() == 2) {  // A1111's <lora:name:te:unet> order
    r.text_encoder_weight = weights[0];
    r.unet_weight = weights[1];
  }
  return r;
}

}  // namespace easel::engine

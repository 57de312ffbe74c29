// MakeInfotext: the A1111 "parameters" text for one generated image, with A1111's display
// names for samplers and schedulers so A1111/Forge/CivitAI read our PNGs as their own.
#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "engine/pipeline/sd_pipeline.h"
#include "engine/sample/samplers.h"
#include "engine/sample/schedules.h"

namespace easel::engine {
namespace {

std::string A1111SamplerName(const std::string& comfy) {
  static const std::map<std::string, std::string> kNames = {{"euler", "Euler"},
                                                            {"euler_ancestral", "Euler a"},
                                                            {"heun", "Heun"},
                                                            {"dpmpp_2m", "DPM++ 2M"},
                                                            {"dpmpp_2m_sde", "DPM++ 2M SDE"},
                                                            {"dpmpp_sde", "DPM++ SDE"},
                                                            {"ddim", "DDIM"},
                                                            {"lcm", "LCM"}};
  auto it = kNames.find(comfy);
  return it == kNames.end() ? comfy : it->second;
}

std::string A1111ScheduleName(const std::string& comfy) {
  static const std::map<std::string, std::string> kNames = {{"normal", "Normal"},
                                                            {"karras", "Karras"},
                                                            {"exponential", "Exponential"},
                                                            {"sgm_uniform", "SGM Uniform"},
                                                            {"simple", "Simple"},
                                                            {"ddim_uniform", "DDIM"},
                                                            {"beta", "Beta"}};
  auto it = kNames.find(comfy);
  return it == kNames.end() ? comfy : it->second;
}

// CFG 7.0 prints as "7", 7.5 as "7.5" (A1111 prints Python floats).
std::string FormatNumber(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

}  // namespace

io::Infotext MakeInfotext(const GenerateRequest& r, const ModelInfo& model,
                          const std::string& model_hash, int64_t seed) {
  std::string sampler = r.sampler, scheduler = r.scheduler, override_scheduler;
  if (ResolveSamplerName(r.sampler, &sampler, &override_scheduler).ok()) {
    if (!override_scheduler.empty()) scheduler = override_scheduler;
  }
  if (auto s = ResolveSchedulerName(scheduler); s.ok()) scheduler = *s;

  io::Infotext info;
  info.prompt = r.prompt;
  // LoRAs given as flags become prompt tags, so A1111 (and Easel) reproduce the image from the
  // text alone: <lora:file-stem:te:unet>, A1111's order.
  for (const LoraRequest& l : r.loras) {
    const std::string stem = std::filesystem::path(l.name_or_path).stem().string();
    info.prompt += " <lora:" + stem + ":" + FormatNumber(l.text_encoder_weight);
    if (l.unet_weight != l.text_encoder_weight) info.prompt += ":" + FormatNumber(l.unet_weight);
    info.prompt += ">";
  }
  info.negative_prompt = r.negative_prompt;
  auto& p = info.params;
  p.emplace_back("Steps", std::to_string(r.steps));
  p.emplace_back("Sampler", A1111SamplerName(sampler));
  p.emplace_back("Schedule type", A1111ScheduleName(scheduler));
  p.emplace_back("CFG scale", FormatNumber(r.cfg_scale));
  p.emplace_back("Seed", std::to_string(seed));
  p.emplace_back("Size", std::to_string(r.width) + "x" + std::to_string(r.height));
  if (!model_hash.empty()) p.emplace_back("Model hash", model_hash);
  p.emplace_back("Model", model.name);
  if (!model.vae_name.empty()) p.emplace_back("VAE", model.vae_name);
  if (r.clip_skip > 1) p.emplace_back("Clip skip", std::to_string(r.clip_skip));
  if (r.batch > 1) {
    p.emplace_back("Batch size", std::to_string(r.batch));
    p.emplace_back("Batch pos", std::to_string(seed - r.seed));
  }
  // img2img / inpainting, A1111's keys.
  if (!r.init_image.empty()) {
    p.emplace_back("Denoising strength", FormatNumber(r.denoising_strength));
    if (r.resize_mode != 0) p.emplace_back("Resize mode", std::to_string(r.resize_mode));
    const bool outpainting = r.outpaint != std::array<int, 4>{0, 0, 0, 0};
    if (!r.mask.empty() || outpainting) {
      static const char* kFill[] = {"fill", "original", "latent noise", "latent nothing"};
      p.emplace_back("Mask blur", std::to_string(r.mask_blur));
      p.emplace_back("Inpaint area", r.inpaint_full_res ? "Only masked" : "Whole picture");
      if (r.inpaint_full_res)
        p.emplace_back("Masked area padding", std::to_string(r.inpaint_full_res_padding));
      p.emplace_back("Masked content", kFill[std::clamp(r.inpainting_fill, 0, 3)]);
      if (r.inpainting_mask_invert) p.emplace_back("Mask mode", "Inpaint not masked");
    }
    if (outpainting)
      p.emplace_back("Outpaint",
                     std::to_string(r.outpaint[0]) + "," + std::to_string(r.outpaint[1]) + "," +
                         std::to_string(r.outpaint[2]) + "," + std::to_string(r.outpaint[3]));
  }
  // Hires fix: the first pass's size is "Size" (as A1111 writes it).
  if (r.enable_hr) {
    p.emplace_back("Denoising strength", FormatNumber(r.hr_denoising_strength));
    p.emplace_back("Hires upscale", FormatNumber(r.hr_scale));
    if (r.hr_second_pass_steps > 0)
      p.emplace_back("Hires steps", std::to_string(r.hr_second_pass_steps));
    p.emplace_back("Hires upscaler", r.hr_upscaler);
  }
  if (!r.refiner_checkpoint.empty() && r.refiner_switch_at < 1.0) {
    const std::filesystem::path refiner(r.refiner_checkpoint);
    p.emplace_back("Refiner", std::filesystem::is_directory(refiner) ? refiner.filename().string()
                                                                     : refiner.stem().string());
    p.emplace_back("Refiner switch at", FormatNumber(r.refiner_switch_at));
  }
  p.emplace_back("Version", "easel");
  return info;
}

}  // namespace easel::engine

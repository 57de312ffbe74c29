// ModelRecord: what the library knows about one model file (a row of the `models` table),
// and ModelKind, the component a file holds. Pure data plus JSON conversion; filled by the
// scanner (scanner.h) from the file's header, its folder and its sidecar files.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "library/detect.h"

namespace easel::library {

enum class ModelKind {
  kUnknown,
  kCheckpoint,      // diffusion model + VAE + text encoder(s) in one file
  kDiffusionModel,  // the denoiser alone (ComfyUI models/diffusion_models, models/unet)
  kVae,
  kTextEncoder,  // CLIP-L, CLIP-G, OpenCLIP-H, T5 (ComfyUI models/clip, text_encoders)
  kLora,         // LoRA, LyCORIS (LoHa, LoKr), diffusers/PEFT LoRA
  kEmbedding,    // textual inversion
  kControlNet,
  kUpscaler,  // ESRGAN-style super-resolution
};
const char* KindName(ModelKind kind);  // "checkpoint", "diffusion_model", "vae", ...
// Parses KindName's names (and a few aliases: "unet", "lycoris", "clip", "upscale").
bool ParseKind(const std::string& name, ModelKind* out);
// Parses FamilyName's names, case-insensitively ("sd1", "SDXL"); false for others.
bool ParseFamily(const std::string& name, Family* out);
// The family a base-model label names: CivitAI's "SD 1.5", "SDXL 1.0", "Pony", "Illustrious",
// "Flux.1 D"; kohya's "sd_v1", "sdxl_base_v1-0"; modelspec's "stable-diffusion-xl-v1-base/lora".
// kUnknown when it names none.
Family FamilyFromLabel(const std::string& label);

struct ModelRecord {
  std::string path;  // absolute
  std::string root;  // the scanned folder it was found under
  std::string name;  // file name without extension
  ModelKind kind = ModelKind::kUnknown;
  Family family = Family::kUnknown;
  // Kind details: "lora" | "loha" | "lokr" | "peft" for LoRAs; "clip_l" | "clip_g" | "clip_h" |
  // "t5xxl" for text encoders; "refiner" | "inpaint" for denoisers; "pickle" for .ckpt/.pt.
  std::string subtype;
  int64_t latent_channels = 0;  // VAEs: 4 (SD1/SD2/SDXL) or 16 (SD3/Flux); 0 unknown
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sidecar_sig;  // names and mtimes of the sidecars read: a change rescans the file
  std::string sha256;       // "" until hashed (in the background)
  std::string autov2;       // first 10 hex digits of sha256
  std::string error;        // why the file could not be read; the record is kept, listed
  std::string base_model;   // label from metadata ("SDXL 1.0", "Pony"), "" if none
  std::string title;        // display name from metadata, "" if none
  std::string description;
  std::vector<std::string> tags;                       // lowercase, unique, most relevant first
  std::vector<std::string> trigger_words;              // phrases to put into the prompt
  std::string preview;                                 // image next to the file, "" if none
  int64_t downloads = -1;                              // popularity when known (CivitAI), else -1
  double rating = -1;                                  // 0..5 when known, else -1
  double preferred_weight = 0;                         // LoRAs: from metadata, 0 when unknown
  nlohmann::json params = nlohmann::json::object();    // preferred steps, cfg, sampler ...
  nlohmann::json metadata = nlohmann::json::object();  // safetensors __metadata__ (trimmed)
  std::vector<std::string> sources;                    // sidecars used ("civitai.info" ...)
  std::vector<std::string> evidence;                   // why this kind and family
  int64_t scanned_ms = 0;

  nlohmann::json ToJson() const;
  // Inverse of ToJson; missing fields keep their defaults. Throws nothing: wrong types are
  // ignored.
  static ModelRecord FromJson(const nlohmann::json& j);
};

}  // namespace easel::library

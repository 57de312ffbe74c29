// Which component a model file holds (checkpoint, diffusion model, VAE, text encoder,
// LoRA/LyCORIS, embedding, ControlNet, upscaler) and for which family, decided from its
// tensor names and shapes (header only), with the folder it sits in as a hint and as the
// only clue for files Easel never opens (pickles, GGUF).
//
// Folder conventions (case-insensitive, the nearest matching folder above the file wins):
//   ComfyUI  models/{checkpoints, diffusion_models, unet, vae, clip, text_encoders, loras,
//            embeddings, upscale_models, controlnet}
//   A1111 / Forge  models/{Stable-diffusion, VAE, Lora, LyCORIS, ESRGAN, RealESRGAN,
//            ControlNet}, embeddings/
//   InvokeAI  models/<base>/<type>: base sd-1, sd-2, sdxl, sd-3, flux (a family hint) and
//            type main, vae, lora, embedding, controlnet, clip_embed, t5_encoder
// When the tensors and the folder disagree the tensors win and the evidence says so.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "library/detect.h"
#include "library/model_record.h"

namespace easel::library {

struct FolderHint {
  ModelKind kind = ModelKind::kUnknown;
  Family family = Family::kUnknown;  // InvokeAI base folders only
  std::string folder;                // the folder name that gave the hint
};

// The hint for a file at `path` found under `root` (folders between them are examined,
// nearest first; `root`'s own name counts too).
FolderHint FolderHintFor(const std::string& path, const std::string& root);
// The kind a single folder name stands for (kUnknown when none).
ModelKind KindOfFolderName(const std::string& folder_name);

struct Classification {
  ModelKind kind = ModelKind::kUnknown;
  Family family = Family::kUnknown;
  std::string subtype;  // see ModelRecord::subtype
  int64_t latent_channels = 0;
  std::vector<std::string> evidence;
};

// Classifies an opened header by its tensors, falling back on `hint` when they say nothing.
Classification ClassifyTensors(const std::shared_ptr<const io::SafetensorsFile>& file,
                               const FolderHint& hint);

// The family a file name suggests ("sdxl_vae" -> SDXL, "vae-ft-mse-840000" -> SD1,
// "ae.safetensors" -> Flux): only used for files whose tensors cannot tell (VAEs, encoders).
Family FamilyFromName(const std::string& file_name);

// Weight file extensions the scanner indexes: .safetensors .sft .ckpt .pt .pth .bin .gguf.
bool IsModelFileName(const std::string& file_name);

}  // namespace easel::library

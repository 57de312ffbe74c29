// Model detection: which family (SD1.x, SD2.x, SDXL, SD3, Flux), variant, prediction type and
// components a safetensors file or a diffusers folder holds, decided from tensor names and
// shapes only (and configs, for folders), never from file names.
//
// A single file is read header-only (io::SafetensorsFile::OpenHeaderOnly), so detection of
// a 7 GB checkpoint reads a few hundred kB. The one exception is the SD2 v-prediction
// heuristic (ComfyUI's: std of output_blocks.11.1.transformer_blocks.0.norm1.bias > 0.09
// when no `v_pred` marker key exists), which reads one small tensor when the file is given
// with data.
//
// Families are a registry of rules (FamilyRules()); each rule claims weights on its own and
// tests prove no two rules claim the same weights. SD1 vs SD2 is decided by the UNet's
// cross-attention width (768 / 1024); for other widths (tiny test models, odd fine-tunes)
// by structure: the text encoder's layout (HF CLIP = SD1, OpenCLIP = SD2) or, without one,
// the transformer projections (conv proj_in = SD1, linear = SD2). Every decision adds an
// evidence string.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "util/status.h"

namespace easel::library {

enum class Family { kUnknown, kSD1, kSD2, kSDXL, kSD3, kFlux };
const char* FamilyName(Family family);  // "SD1", "SD2", "SDXL", "SD3", "Flux", "unknown"

enum class Prediction { kUnknown, kEps, kV, kFlow };
const char* PredictionName(Prediction p);  // "eps", "v", "flow", "unknown"

// What a path holds.
enum class Layout {
  kUnknown,
  kCheckpoint,       // one file with diffusion model + VAE + text encoder(s) (LDM/SGM names)
  kDiffusers,        // a diffusers pipeline folder (model_index.json)
  kUnetOnly,         // ComfyUI models/unet (diffusion_models): the denoiser alone
  kVaeOnly,          // ComfyUI models/vae
  kTextEncoderOnly,  // ComfyUI models/text_encoders (clip)
};
const char* LayoutName(Layout layout);  // "checkpoint", "diffusers", "unet_only", ...

struct ComponentStats {
  std::string name;  // "unet", "transformer", "vae", "text_encoder", "text_encoder_2", "other"
  int64_t tensors = 0;
  int64_t parameters = 0;                 // elements over all tensors
  std::map<std::string, int64_t> dtypes;  // safetensors dtype name -> elements
};

struct Detection {
  std::string path;
  Family family = Family::kUnknown;
  // "base", "inpaint" (9 UNet input channels), "refiner" (SDXL), "in_channels=N" (others);
  // empty when there is no denoiser.
  std::string variant;
  Prediction prediction = Prediction::kUnknown;
  Layout layout = Layout::kUnknown;
  std::string unet_layout;          // "ldm" or "diffusers" (key names); empty without a UNet
  std::string text_encoder_layout;  // "hf_clip", "openclip", "t5"; empty without one
  int64_t context_dim = 0;          // UNet cross-attention width; 0 if none
  int64_t in_channels = 0;          // denoiser input channels; 0 if none
  std::vector<ComponentStats> components;
  uint64_t file_size = 0;  // bytes; for folders the sum of the weight files
  std::vector<std::string> evidence;

  bool Has(const std::string& component) const;  // "unet", "vae", "text_encoder" ...
  const ComponentStats* Component(const std::string& name) const;
  // Easel can generate with it (SD1.x / SD2.x / SDXL); SD3 and Flux are recognised only.
  bool Supported() const {
    return family == Family::kSD1 || family == Family::kSD2 || family == Family::kSDXL;
  }
  nlohmann::json ToJson() const;
};

// One family's claim. `claims` looks at the whole file's names and shapes (any prefix
// layout) and appends why it claims to `evidence`.
struct FamilyRule {
  Family family;
  bool (*claims)(const io::SafetensorsFile& file, std::vector<std::string>* evidence);
};
const std::vector<FamilyRule>& FamilyRules();
// The families whose rule claims the file (for tests: at most one, always).
std::vector<Family> FamiliesClaiming(const io::SafetensorsFile& file);

// Detects a single safetensors file. `file` may be header-only; with data (Open()) the SD2
// v-prediction heuristic may read one tensor. Never fails: unknown files come back as
// Family::kUnknown with the evidence list.
Detection DetectSafetensors(const std::shared_ptr<const io::SafetensorsFile>& file);

// Opens `path` header-only and detects it; for SD2 files without a `v_pred` key it maps the
// file (lazily: only the heuristic's tensor is read) when read_data is true. Fails with the
// reader's status (kNotFound, kCorrupt, kUnsupported for pickles ...).
Result<Detection> DetectFile(const std::string& path, bool read_data = true);

// Detects a diffusers pipeline folder from model_index.json, the component configs and the
// weight headers. Fails with kNotFound (no model_index.json) or kCorrupt (bad JSON).
Result<Detection> DetectDiffusersFolder(const std::string& dir);

// A file or a diffusers folder.
Result<Detection> DetectPath(const std::string& path, bool read_data = true);

// The safetensors weight files of one diffusers component folder (unet/, vae/ ...): the
// single diffusion_pytorch_model[.fp16].safetensors / model[.fp16].safetensors, or every shard
// a *.safetensors.index.json lists. Fails with kNotFound when there are none, and with
// kUnsupported when only pickled .bin weights exist ("convert them to safetensors").
Result<std::vector<std::string>> DiffusersWeightFiles(const std::string& component_dir);

}  // namespace easel::library

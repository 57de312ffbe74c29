// Presets: named model stacks a user builds once and names in jobs.
//   image: checkpoint or diffusion model + VAE + text encoders (clip_l, clip_g, t5xxl) +
//          LoRAs with weights + preferred parameters; vram_weights_mb is the components'
//          file sizes summed (what loading them costs, before activations).
//   llm:   model (GGUF) + vision projector + context size + capabilities + role.
// JSON is the exchange format (import/export, the API, the `presets` table); parsing is
// strict (unknown fields and wrong types are errors naming the field), and Validate checks
// the files: they exist, each is the kind its slot wants, and all belong to one family.
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "library/model_record.h"
#include "util/status.h"

namespace easel::library {

struct PresetLora {
  std::string path;
  double weight = 1.0;
};

// Preferred generation parameters; 0 / "" mean "not set" (the quality level decides).
struct PresetParams {
  int width = 0, height = 0, steps = 0, clip_skip = 0;
  double cfg = 0;
  std::string sampler, scheduler;
};

struct ImagePreset {
  std::string name, description;
  std::string checkpoint;       // single-file checkpoint or diffusers folder, or
  std::string diffusion_model;  // a denoiser alone (then vae and encoders are needed)
  std::string vae, clip_l, clip_g, t5xxl;
  std::vector<PresetLora> loras;
  PresetParams params;
  std::string family;           // set by Validate from the components ("SDXL")
  int64_t vram_weights_mb = 0;  // set by Validate
};

struct LlmPreset {
  std::string name, description;
  std::string model_path;   // .gguf
  std::string mmproj_path;  // vision projector, "" if none
  int n_ctx = 4096;
  std::vector<std::string> capabilities;  // chat, tagging, vision, tool_use, embedding
  std::string role;                       // "General Assistant", "Background Tagger" ...
  int64_t vram_weights_mb = 0;            // set by Validate
};

// One problem Validate found: the field ("vae", "loras[1]") and what is wrong.
struct PresetProblem {
  std::string field;
  std::string message;
};

nlohmann::json ToJson(const ImagePreset& p);  // includes "type": "image"
nlohmann::json ToJson(const LlmPreset& p);    // includes "type": "llm"
// Strict parsing: kInvalidArgument naming the field for unknown fields, wrong types, a bad
// name (1-64 characters of letters, digits, space, . _ -) or a wrong "type".
Result<ImagePreset> ImagePresetFromJson(const nlohmann::json& j);
Result<LlmPreset> LlmPresetFromJson(const nlohmann::json& j);
// "image" or "llm" from j["type"] (absent: "image"); kInvalidArgument otherwise.
Result<std::string> PresetType(const nlohmann::json& j);

// What Validate knows of a file: the library's record when indexed, else read from disk
// (ReadModelFile); nullopt when it does not exist.
using ModelLookup = std::function<std::optional<ModelRecord>(const std::string& path)>;
// A lookup that reads files from disk directly (no index).
ModelLookup DiskLookup();

// Checks the components and fills family and vram_weights_mb. Empty result: valid.
std::vector<PresetProblem> Validate(ImagePreset* preset, const ModelLookup& lookup);
std::vector<PresetProblem> Validate(LlmPreset* preset);

// Presets in an import file: one preset object, an array of them, or {"presets": [...]}.
Result<std::vector<nlohmann::json>> PresetsInFile(const std::string& text);
// The export document: {"easel_presets": 1, "presets": [...]}.
nlohmann::json ExportDocument(const std::vector<nlohmann::json>& presets);

// "name: message" lines, for errors and the CLI.
std::string ProblemsText(const std::vector<PresetProblem>& problems);

}  // namespace easel::library

// Zero-configuration model selection: from a prompt (and optional style and quality level)
// and the library's records, choose the base model, a compatible VAE and text encoders,
// LoRAs, and generation parameters, each with a score and the reasons for it.
//
// Scoring (all additive, reasons recorded for --explain):
//   base models  style match (requested or implied by the prompt) vs the style its name,
//                tags and base model suggest; prompt terms found in its tags / name;
//                how well its family suits the quality level; popularity (downloads,
//                rating) when known; a diffusion model needs a VAE and encoders in the
//                library, inpaint / refiner models are for other jobs.
//   LoRAs        same family as the base only; prompt terms in its tags, trigger words and
//                name; style match; popularity. Chosen when the score passes a threshold,
//                at most 1 / 2 / 3 / 4 (fast / balanced / high / ultra).
//   parameters   the family's defaults scaled by quality, the base model's own preferred
//                parameters when its metadata has them, an aspect ratio for the content.
// Ties break by name then path, so the same library and prompt give the same choice.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "library/model_record.h"
#include "library/preset.h"
#include "library/prompt_analysis.h"
#include "util/status.h"

namespace easel::library {

enum class Quality { kFast, kBalanced, kHigh, kUltra };
const char* QualityName(Quality q);
bool ParseQuality(const std::string& name, Quality* out);

struct SelectOptions {
  std::string style;  // anime | realistic | artistic | 3d; "" = implied by the prompt
  Quality quality = Quality::kBalanced;
  // Only families Easel can generate with (SD1.x / SD2.x) and safetensors files: for the
  // CLI's generate. The server's planner may list others.
  bool require_supported = false;
  int max_loras = -1;  // -1: by quality
};

struct Choice {
  ModelRecord model;
  double score = 0;
  double weight = 0;   // LoRAs
  std::string slot;    // text encoders: clip_l, clip_g, t5xxl
  std::string reason;  // "style anime in tags (+30), ..."
};

struct Selection {
  PromptAnalysis analysis;
  std::string style;  // the style used ("" none)
  Quality quality = Quality::kBalanced;
  Choice base;
  std::optional<Choice> vae;  // nullopt: the checkpoint's own
  std::vector<Choice> text_encoders;
  std::vector<Choice> loras;
  std::vector<Choice> alternatives;      // the next best base models
  std::string prompt;                    // with the chosen LoRAs' trigger words added
  std::string negative_prompt;           // the user's, else a default for the style
  PresetParams params;                   // all set
  std::vector<std::string> explanation;  // one line per decision
  nlohmann::json ToJson() const;
};

// Chooses from `library` (records with errors and unusable kinds are ignored). Fails with
// kNotFound when no usable base model exists, saying how to add one, and with
// kInvalidArgument for an unknown style.
Result<Selection> SelectForPrompt(const std::string& prompt, const std::string& negative_prompt,
                                  const std::vector<ModelRecord>& library,
                                  const SelectOptions& options);

}  // namespace easel::library

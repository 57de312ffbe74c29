// Prompt analysis for zero-config selection: what style, content, concepts, base model
// family, LoRA tags, steps and CFG a prompt suggests, as JSON checked against a schema.
// With a language model the reply is constrained to kAnalysisSchema (then clamped: steps
// 10..60, cfg 1..15); without one (or when the model fails) the keyword analyser of
// library/prompt_analysis.h answers, and `source` says which.
//
// Thread-safety: as the backend.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::llm {

struct PromptAnalysisResult {
  // {style, content_type, concepts[], base_family, lora_tags[], steps, cfg}
  nlohmann::json analysis;
  std::string source;    // "llm" | "keywords"
  std::string fallback;  // why the keywords answered although a backend was given ("" if not)
};

// The JSON schema of `analysis` (property order = generation order).
extern const char* const kAnalysisSchema;

// The keyword analyser's answer in the same shape.
PromptAnalysisResult KeywordPromptAnalysis(const std::string& prompt);

// With a backend: the model's analysis, or the keywords' when the model fails (fallback set).
// kInvalidArgument for an empty prompt.
Result<PromptAnalysisResult> AnalysePrompt(ChatBackend* backend, const std::string& prompt,
                                           uint64_t seed = 0);
inline Result<PromptAnalysisResult> AnalysePrompt(ChatBackend& backend, const std::string& prompt,
                                                  uint64_t seed = 0) {
  return AnalysePrompt(&backend, prompt, seed);
}

}  // namespace easel::llm

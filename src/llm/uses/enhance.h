// Prompt enhancement: a short image prompt rewritten into a descriptive one by a language
// model, aware of the style library (the style the user picked, and the names it has).
//
// The reply is constrained to {"prompt": "..."} (a JSON schema), so even a small model gives
// just the prompt, without "Sure! Here is ...". Works over any ChatBackend.
//
// Thread-safety: as the backend (one call at a time per backend).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::llm {

struct StyleHints {
  std::vector<std::string> names;  // the style library's names (a few dozen at most are listed)
  std::string selected;            // the style the user chose, "" for none
  std::string selected_prompt;     // that style's prompt snippet ("{prompt}, anime, cel shading")
};

struct EnhanceOptions {
  float temperature = 0.7f;
  uint64_t seed = 0;
  int max_tokens = 200;
};

// The messages EnhancePrompt sends (for tests and for servers that show them).
ChatRequest EnhanceRequest(const std::string& prompt, const StyleHints& styles,
                           const EnhanceOptions& options = {});

// The rewritten prompt; the original when the model returns an empty one. kInvalidArgument
// for an empty prompt; the backend's errors otherwise.
Result<std::string> EnhancePrompt(ChatBackend& backend, const std::string& prompt,
                                  const StyleHints& styles, const EnhanceOptions& options = {});

}  // namespace easel::llm

// Opt-in translation of a non-English image prompt to English before it is encoded (CLIP
// and T5 know English best). Text that already looks English comes back unchanged without
// asking the model.
//
// LooksEnglish is a small heuristic, not a language detector: text with many non-Latin
// letters, or with more common French/Spanish/German/Italian/Portuguese function words
// than English ones, is not English; tag lists ("1girl, masterpiece") are.
//
// Thread-safety: LooksEnglish is pure; TranslateToEnglish as the backend.
#pragma once

#include <string>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::llm {

bool LooksEnglish(const std::string& text);

// The English prompt (weights "(word:1.2)" and <lora:...> tags kept, as the model is asked
// to); `text` itself when it already looks English or the model returns nothing.
Result<std::string> TranslateToEnglish(ChatBackend& backend, const std::string& text);

}  // namespace easel::llm

// Prompt analysis without an LLM: keywords (lowercase words minus stop words, A1111 weights
// and <lora:...> tags stripped), two-word phrases ("pink hair"), and concepts from a small
// fixed lexicon: the style a prompt implies (anime, realistic, artistic, 3d) and what it
// shows (character, portrait, landscape, scene, animal, object). Deterministic: the same
// prompt gives the same analysis.
//
// Thread-safety: free functions over constant tables.
#pragma once

#include <string>
#include <vector>

namespace easel::library {

struct PromptAnalysis {
  std::vector<std::string> words;     // keywords in prompt order, unique
  std::vector<std::string> phrases;   // adjacent keyword pairs ("pink hair")
  std::vector<std::string> concepts;  // related terms the lexicon adds ("cyberpunk" -> "neon")
  std::string style;                  // anime | realistic | artistic | 3d | "" (none implied)
  std::string content;  // character | portrait | landscape | scene | animal | object | ""
  std::vector<std::string> evidence;  // "style anime from 'manga'"
  // Every term a tag may match: words, phrases and concepts.
  std::vector<std::string> Terms() const;
};

PromptAnalysis AnalyzePrompt(const std::string& prompt);

// The styles a model's name, title, tags and base model suggest (e.g. "anime" for a
// "Pony" base or an "anime" tag), by the same lexicon.
std::vector<std::string> StylesOfText(const std::string& text);

// Lowercase words of `text` (letters, digits, '-' kept; everything else splits).
std::vector<std::string> Words(const std::string& text);

}  // namespace easel::library

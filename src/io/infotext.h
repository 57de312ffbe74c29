// A1111's "parameters" text (infotext): the generation settings stored in a PNG text chunk.
//
//   <prompt, may span lines>
//   Negative prompt: <negative, may span lines>
//   Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512, ...
//
// Values holding ',', ':' or a newline are JSON-quoted, as A1111 does. Format and Parse are
// inverse for everything Format writes, and Parse reads what A1111 and Forge write.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace easel::io {

struct Infotext {
  std::string prompt;
  std::string negative_prompt;
  // The settings line's "Key: value" pairs, in order (values unquoted).
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* Find(const std::string& key) const;  // nullptr if absent
};

std::string FormatInfotext(const Infotext& info);

// Never fails: text without a settings line is all prompt (as A1111 reads it).
Infotext ParseInfotext(const std::string& text);

}  // namespace easel::io

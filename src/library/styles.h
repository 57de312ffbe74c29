// Styles: named prompt snippets (positive and negative) applied by name, with A1111's rule
// for where the user's prompt goes: a snippet containing {prompt} has it substituted there;
// otherwise the snippet is appended after ", ". A1111's styles.csv (columns name, prompt,
// negative_prompt; RFC 4180 quoting) imports into the library.
//
// Thread-safety: plain values and free functions.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace easel::library {

struct Style {
  std::string name;
  std::string prompt;           // may contain {prompt}
  std::string negative_prompt;  // may contain {prompt} (the user's negative prompt)
  std::string source;           // "user" or the imported file
};

// Applies `style` to a prompt and a negative prompt (both in place).
void ApplyStyle(const Style& style, std::string* prompt, std::string* negative_prompt);
// The rule for one text: "{prompt}" -> `text`, else "text, snippet" (either may be empty).
std::string MergeStyleText(const std::string& snippet, const std::string& text);

// Parses a styles.csv. The header row names the columns (name required; prompt and
// negative_prompt optional, any order, a UTF-8 BOM allowed); rows with an empty name are
// skipped. Fails with kCorrupt naming the line for an unterminated quote, and with
// kInvalidArgument when there is no name column.
Result<std::vector<Style>> ParseStylesCsv(const std::string& text);
// Writes styles as a styles.csv A1111 reads.
std::string WriteStylesCsv(const std::vector<Style>& styles);

}  // namespace easel::library

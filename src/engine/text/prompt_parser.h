// A1111's prompt attention syntax and extra-network tags, parsed without a model.
//
// ParsePromptAttention follows stable-diffusion-webui's parse_prompt_attention:
//   (text)      weight x 1.1          [text]      weight / 1.1
//   (text:1.3)  weight x 1.3 (spaces allowed around the number: "( text : 1.3 )")
//   nesting multiplies; \( \) \[ \] \\ are literal characters; a backslash before anything
//   else is dropped; an unmatched ")" or "]" is literal text; an unclosed "(" or "[" applies
//   its factor to everything after it; "text:1.2)" with no open "(" is literal text;
//   "BREAK" (uppercase, a whole word) ends the current 75-token chunk; adjacent fragments of
//   equal weight are merged; an empty prompt gives one empty fragment of weight 1.
// Deliberate differences from A1111, both for input A1111 mishandles:
//   - a weight like "(a:1.2.3)" that A1111 matches but cannot convert (it raises) is read
//     as text: "a:1.2.3" with weight 1.1;
//   - BREAK inside brackets is still a break (A1111 multiplies its marker's weight and then
//     no longer recognizes it, feeding the word "BREAK" to the model).
// Weights are computed in double, in A1111's order, then stored as float.
//
// Pure functions: safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace easel::text {

struct PromptFragment {
  std::string text;
  float weight = 1.0f;
  bool is_break = false;  // a BREAK marker: text is empty, weight 1

  bool operator==(const PromptFragment& o) const {
    return text == o.text && weight == o.weight && is_break == o.is_break;
  }
};

std::vector<PromptFragment> ParsePromptAttention(std::string_view prompt);

// One <kind:item:item...> tag. A1111 splits the items on ':'; an item with exactly one '='
// is named ("te=0.5"), the others are positional. The first positional item is the name.
struct ExtraNetworkTag {
  std::string kind;                                        // "lora", "lyco", "hypernet", ...
  std::string name;                                        // first positional item ("" if none)
  std::vector<std::string> args;                           // positional items after the name
  std::vector<std::pair<std::string, std::string>> named;  // key=value items, in order

  bool operator==(const ExtraNetworkTag& o) const {
    return kind == o.kind && name == o.name && args == o.args && named == o.named;
  }
};

struct ExtractedPrompt {
  std::string prompt;                 // the prompt with every tag removed (nothing else changed)
  std::vector<ExtraNetworkTag> tags;  // in order of appearance
};

// Removes every `<word:anything but '>'>` tag, as A1111 does (whatever the kind: the caller
// decides which kinds it knows), and returns them.
ExtractedPrompt ExtractExtraNetworks(std::string_view prompt);

// A1111's LoRA tag arguments: <lora:name:te[:unet[:dyn]]> or te=, unet=, dyn= items. te
// defaults to 1, unet to te, dyn_dim to -1 (none). kInvalidArgument if a number is malformed.
struct LoraMultipliers {
  float te = 1.0f;
  float unet = 1.0f;
  int dyn_dim = -1;
};
Result<LoraMultipliers> ParseLoraMultipliers(const ExtraNetworkTag& tag);

}  // namespace easel::text

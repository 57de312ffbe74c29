// Turning generated tokens into text as they come: UTF-8 characters split across tokens
// are held back until whole, and text that might be the start of a stop string is held back
// until it is known not to be one.
//
// Thread-safety: one TokenStream per decoding stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llm/tokenizer.h"

namespace easel::llm {

class TokenStream {
 public:
  // `tok` must outlive the stream. Special tokens are dropped from the text unless
  // `show_special`.
  TokenStream(const Tokenizer& tok, std::vector<std::string> stop_strings,
              bool show_special = false);

  // Appends token `id`; returns the text that is now safe to show (possibly empty).
  std::string Push(int32_t id);
  // True once a stop string has appeared; the text before it has been returned by Push.
  bool stopped() const { return stopped_; }
  // The rest at the end of generation (held-back bytes; invalid UTF-8 left as it is).
  std::string Flush();

 private:
  const Tokenizer& tok_;
  std::vector<std::string> stops_;
  bool show_special_;
  std::string pending_;  // decoded bytes not yet returned
  bool stopped_ = false;
};

}  // namespace easel::llm

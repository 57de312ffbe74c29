// Pre-tokenizers of byte-level BPE models: the regex splits of GPT-2, Llama 3, Qwen2 and
// SmolLM, written out by hand over Unicode classes (engine/text/unicode.h) instead of run
// through a regex engine.
//
// The patterns they implement (as `tokenizers` and llama.cpp write them):
//   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2:   the Llama 3 pattern with \p{N} (one digit) instead of \p{N}{1,3}
//   SmolLM:  each digit on its own (\p{N}), then GPT-2 on what lies between
// Invalid UTF-8 bytes are kept (byte-level BPE encodes them) and classed as "other".
//
// Pure functions: safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace easel::llm {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kSmolLM };

// From a GGUF tokenizer.ggml.pre name ("gpt2", "llama-bpe", "qwen2", "smollm", ...); nullopt
// for names Easel does not know.
std::optional<PreTokenizer> PreTokenizerFromName(std::string_view name);
const char* PreTokenizerName(PreTokenizer p);

// Splits `text` into the pieces BPE runs on; the pieces concatenate back to `text`.
std::vector<std::string_view> PreTokenize(PreTokenizer p, std::string_view text);

}  // namespace easel::llm

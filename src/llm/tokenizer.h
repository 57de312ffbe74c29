// Text <-> token ids for Llama-family models: byte-level BPE (GPT-2 style vocabularies:
// Llama 3, Qwen2, SmolLM, ...) and SentencePiece BPE with byte fallback (Llama 2, Mistral),
// loaded from a GGUF file's tokenizer.ggml.* metadata or (byte-level BPE) a Hugging Face
// tokenizer.json.
//
// Encode: special tokens (control and user-defined tokens; tokenizer.json's added tokens)
// are matched in the text first, longest first, when parse_special is set; the text between
// them is pre-tokenized (llm/pretokenizer.h) and each piece BPE-merged by merge rank
// (byte-level) or by token score (SentencePiece). No bos/eos is added: callers (chat
// templates) add what the model wants.
//
// Loading checks every id and count against the vocabulary (tokenizer ids out of range,
// merges naming unknown tokens, arrays of different lengths are kCorrupt; an unknown
// pre-tokenizer is kUnsupported), so encoding itself cannot fail.
//
// Thread-safety: immutable after loading; Encode/Decode may run from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "llm/gguf.h"
#include "llm/pretokenizer.h"
#include "util/status.h"

namespace easel::llm {

enum class TokenizerModel { kByteBpe, kSentencePiece };

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
 public:
  // From tokenizer.ggml.model ("gpt2" or "llama"), .tokens, .token_type, .merges (gpt2),
  // .scores (llama), .pre, .bos/eos/padding/unknown_token_id, .add_bos_token,
  // .add_space_prefix. Fails with kNotFound (no tokenizer in the file), kCorrupt or
  // kUnsupported.
  static Result<Tokenizer> FromGguf(const GgufFile& file);
  // From the text of a tokenizer.json whose model is byte-level BPE. `name` is used in
  // messages.
  static Result<Tokenizer> FromTokenizerJson(std::string_view json_text, const std::string& name);
  static Result<Tokenizer> FromTokenizerJsonFile(const std::string& path);

  std::vector<int32_t> Encode(std::string_view text, bool parse_special = true) const;
  // Concatenates TokenBytes of each id; ids out of range decode to nothing.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  // The token as the vocabulary spells it ("Ġworld", "▁world", "<0x0A>").
  const std::string& TokenText(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  // The bytes the token stands for in text ("Ġworld" -> " world", "<0x0A>" -> "\n"); special
  // tokens stand for their own text.
  const std::string& TokenBytes(int32_t id) const { return bytes_.at(static_cast<size_t>(id)); }
  TokenType type(int32_t id) const { return types_.at(static_cast<size_t>(id)); }
  bool IsSpecial(int32_t id) const;  // control or user-defined
  std::optional<int32_t> Find(std::string_view token_text) const;

  TokenizerModel model() const { return model_; }
  PreTokenizer pre_tokenizer() const { return pre_; }
  int32_t bos_id() const { return bos_; }  // -1 when the model has none
  int32_t eos_id() const { return eos_; }
  int32_t pad_id() const { return pad_; }
  int32_t unk_id() const { return unk_; }
  bool add_bos() const { return add_bos_; }

 private:
  Status Finish(const std::string& name, const std::vector<std::string>& merges);
  void EncodeBytePiece(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodeSentencePiece(std::string_view text, bool prefix_space,
                           std::vector<int32_t>* out) const;

  TokenizerModel model_ = TokenizerModel::kByteBpe;
  PreTokenizer pre_ = PreTokenizer::kGpt2;
  std::vector<std::string> tokens_;
  std::vector<std::string> bytes_;
  std::vector<TokenType> types_;
  std::vector<float> scores_;  // SentencePiece
  std::unordered_map<std::string, int32_t> ids_;
  // Byte-level BPE: (left id << 32 | right id) -> (rank, merged id).
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::array<int32_t, 256> byte_token_{};  // the token of each lone byte, or -1
  std::vector<int32_t> specials_;          // matched before BPE, longest first
  bool ignore_merges_ = false;             // a whole piece in the vocabulary is one token
  bool add_space_prefix_ = true;           // SentencePiece
  bool add_bos_ = false;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1;
};

// GPT-2's byte <-> printable code point table (the "Ġ" for a space): byte b's UTF-8 text.
const std::string& ByteLevelChar(uint8_t b);

}  // namespace easel::llm

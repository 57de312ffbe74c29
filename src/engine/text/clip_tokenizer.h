// ClipTokenizer: CLIP's byte-level BPE tokenizer, giving the ids transformers' CLIPTokenizer
// gives (the `tokenizers`-backed one) for the same text and vocabulary.
//
// Encode runs, in order:
//   1. split out "<|startoftext|>" and "<|endoftext|>" written literally in the text (exact,
//      case-sensitive): they become bos/eos ids;
//   2. normalize the rest: NFC, then lowercase code point by code point (see unicode.h);
//      whitespace only separates words, so it is not collapsed but dropped in step 3;
//   3. pre-tokenize as CLIP's regex does: "'s" "'t" "'re" "'ve" "'m" "'ll" "'d" | a run of
//      letters | one number character | a run of other non-space characters; whitespace is
//      dropped. (The regex's "<|endoftext|>" branch never fires after step 1 in `tokenizers`:
//      its byte-level step splits such a piece again, so it is left out here.)
//   4. map each word's UTF-8 bytes to CLIP's printable byte alphabet, mark the word's last
//      symbol with "</w>", and merge pairs by BPE rank.
// Not done: ftfy's mojibake repair (OpenAI's reference runs it; transformers' fast tokenizer
// does not). Invalid UTF-8 bytes become U+FFFD first.
//
// Thread-safety: a loaded tokenizer is immutable except for its word cache (bounded, guarded
// by a mutex); Encode may be called from several threads at once. Copies share the cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/status.h"

namespace easel::text {

class ClipTokenizer {
 public:
  static constexpr const char* kBosToken = "<|startoftext|>";
  static constexpr const char* kEosToken = "<|endoftext|>";
  static constexpr const char* kVocabFileName = "bpe_simple_vocab_16e6.txt.gz";

  // A diffusers `tokenizer/` folder's vocab.json (token -> id) and merges.txt ("#version"
  // line, then one "left right" pair a line, best first). Fails with kNotFound / kIo when a
  // file cannot be read and kCorrupt when its content breaks the format.
  static Result<ClipTokenizer> FromHfFiles(const std::string& vocab_json,
                                           const std::string& merges_txt);
  // OpenAI's / open_clip's bpe_simple_vocab_16e6.txt.gz: a header line, then merges. The
  // vocabulary is built as CLIP builds it: the 256 byte symbols, the same with "</w>", the
  // first 48894 merges joined, then <|startoftext|> (49406) and <|endoftext|> (49407).
  static Result<ClipTokenizer> FromBpeGz(const std::string& path);
  // The vocabulary for single-file checkpoints: the first existing file of
  // $EASEL_CLIP_VOCAB, <exe dir>/../share/easel/, <exe dir>/share/easel/,
  // /usr/local/share/easel/, /usr/share/easel/ (each + kVocabFileName). kNotFound lists the
  // places looked at and names tools/fetch_clip_vocab.sh.
  static Result<ClipTokenizer> FindDefault();
  // The paths FindDefault tries, in order (for messages and tests).
  static std::vector<std::string> DefaultVocabPaths();

  // Token ids of text without bos/eos. Never fails: every byte has a token.
  std::vector<int> Encode(std::string_view text) const;
  // Tokens joined, "</w>" read as a space, bytes mapped back; for logs and debugging.
  std::string Decode(const std::vector<int>& ids) const;

  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int vocab_size() const { return static_cast<int>(id_to_token_.size()); }
  // The id of a token as spelled in the vocabulary (",</w>"), or -1.
  int TokenId(std::string_view token) const;
  // The vocabulary spelling of id ("" for ids out of range).
  const std::string& Token(int id) const;

 private:
  struct Cache;
  ClipTokenizer() = default;
  static Result<ClipTokenizer> Build(std::vector<std::string> id_to_token,
                                     const std::vector<std::pair<std::string, std::string>>& merges,
                                     const std::string& source);
  void EncodeWord(std::string_view word_utf8, std::vector<int>* out) const;
  std::vector<int> Bpe(std::string_view word_utf8) const;

  std::unordered_map<std::string, int> token_to_id_;
  std::vector<std::string> id_to_token_;
  // Key: left id * 2^32 + right id (ids of both halves) -> {rank, merged id}.
  std::unordered_map<uint64_t, std::pair<int, int>> merges_;
  int byte_ids_[256][2] = {};  // [byte][0: inside a word, 1: last symbol with "</w>"]
  std::string byte_to_symbol_[256];
  int bos_id_ = -1;
  int eos_id_ = -1;
  std::shared_ptr<Cache> cache_;
};

}  // namespace easel::text

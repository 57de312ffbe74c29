// Textual-inversion embedding names as the prompt chunker sees them: each name's token
// sequence (the name tokenized on its own, as A1111 matches it inside a prompt) and a way to
// ask how many vectors it has. The vectors themselves live in the engine (torch); this part
// is torch-free so the chunker can place embeddings across 75-token chunk boundaries.
//
// Matching (A1111's EmbeddingDatabase.find_embedding_at_position): at each token of a prompt
// fragment, the longest registered name whose whole token sequence starts there wins.
// ComfyUI's explicit form `embedding:name` is resolved by FindName (exact stem first, then
// ignoring case).
// Thread-safety: an immutable value after the Add() calls; vector_count may load files.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace easel::text {

struct EmbeddingName {
  std::string name;         // file stem: "easynegative"
  std::vector<int> tokens;  // the stem tokenized on its own, no bos/eos
};

class EmbeddingVocabulary {
 public:
  // Registers a name; returns its index. Names whose tokenization is empty are kept for
  // FindName but never match inside text.
  int Add(std::string name, std::vector<int> tokens);

  // The longest name whose tokens equal tokens[pos ..]; -1 when none.
  int MatchAt(const std::vector<int>& tokens, size_t pos) const;
  // The index of `name` (exact, then case-insensitive); -1 when none.
  int FindName(const std::string& name) const;

  const EmbeddingName& at(int index) const { return names_.at(static_cast<size_t>(index)); }
  size_t size() const { return names_.size(); }

  // How many vectors embedding `index` holds (loads it on first use); may throw easel::Error
  // (a pickled file, a file of the wrong width ...). Must be set before chunking.
  std::function<int(int)> vector_count;

 private:
  std::vector<EmbeddingName> names_;
};

}  // namespace easel::text

// Textual-inversion name matching: see embedding_vocab.h.
#include "engine/text/embedding_vocab.h"

#include <algorithm>
#include <cctype>

namespace easel::text {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

int EmbeddingVocabulary::Add(std::string name, std::vector<int> tokens) {
  names_.push_back({std::move(name), std::move(tokens)});
  return static_cast<int>(names_.size()) - 1;
}

int EmbeddingVocabulary::MatchAt(const std::vector<int>& tokens, size_t pos) const {
  int best = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < names_.size(); ++i) {
    const std::vector<int>& seq = names_[i].tokens;
    if (seq.empty() || seq.size() <= best_len || pos + seq.size() > tokens.size()) continue;
    if (std::equal(seq.begin(), seq.end(), tokens.begin() + static_cast<std::ptrdiff_t>(pos))) {
      best = static_cast<int>(i);
      best_len = seq.size();
    }
  }
  return best;
}

int EmbeddingVocabulary::FindName(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i].name == name) return static_cast<int>(i);
  const std::string lower = Lower(name);
  for (size_t i = 0; i < names_.size(); ++i)
    if (Lower(names_[i].name) == lower) return static_cast<int>(i);
  return -1;
}

}  // namespace easel::text

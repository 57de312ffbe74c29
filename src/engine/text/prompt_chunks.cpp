// Prompt chunking into 77-token windows: see prompt_chunks.h.
#include "engine/text/prompt_chunks.h"

#include <algorithm>

namespace easel::text {

TokenChunk EmptyChunk(const ClipTokenizer& tokenizer, int pad_id) {
  TokenChunk c;
  c.ids.fill(pad_id);
  c.weights.fill(1.0f);
  c.ids[0] = tokenizer.bos_id();
  c.ids[1] = tokenizer.eos_id();
  return c;
}

std::vector<TokenChunk> ChunkPrompt(const std::vector<PromptFragment>& fragments,
                                    const ClipTokenizer& tokenizer, int pad_id,
                                    const ChunkOptions& options) {
  const int comma = tokenizer.TokenId(",</w>");
  std::vector<TokenChunk> chunks;
  std::vector<int> ids;        // the current chunk's prompt tokens (at most 75)
  std::vector<float> weights;  // their weights
  int last_comma = -1;         // index in ids of the last comma, -1 if none

  auto close_chunk = [&] {
    TokenChunk c;
    c.ids.fill(pad_id);
    c.weights.fill(1.0f);
    c.ids[0] = tokenizer.bos_id();
    std::copy(ids.begin(), ids.end(), c.ids.begin() + 1);
    std::copy(weights.begin(), weights.end(), c.weights.begin() + 1);
    c.ids[ids.size() + 1] = tokenizer.eos_id();
    chunks.push_back(c);
    ids.clear();
    weights.clear();
    last_comma = -1;
  };

  for (const PromptFragment& f : fragments) {
    if (f.is_break) {
      close_chunk();
      continue;
    }
    for (int token : tokenizer.Encode(f.text)) {
      const int size = static_cast<int>(ids.size());
      if (token == comma) {
        last_comma = size;
      } else if (options.comma_backtrack != 0 && size == kChunkTokens && last_comma != -1 &&
                 size - last_comma <= options.comma_backtrack) {
        // Move what follows the comma to the next chunk.
        std::vector<int> moved_ids(ids.begin() + last_comma + 1, ids.end());
        std::vector<float> moved_weights(weights.begin() + last_comma + 1, weights.end());
        ids.resize(static_cast<size_t>(last_comma + 1));
        weights.resize(static_cast<size_t>(last_comma + 1));
        close_chunk();
        ids = std::move(moved_ids);
        weights = std::move(moved_weights);
      }
      if (static_cast<int>(ids.size()) == kChunkTokens) close_chunk();
      ids.push_back(token);
      weights.push_back(f.weight);
    }
  }
  if (!ids.empty() || chunks.empty()) close_chunk();
  return chunks;
}

void PadToSameChunkCount(std::vector<TokenChunk>* a, std::vector<TokenChunk>* b,
                         const ClipTokenizer& tokenizer, int pad_id) {
  while (a->size() < b->size()) a->push_back(EmptyChunk(tokenizer, pad_id));
  while (b->size() < a->size()) b->push_back(EmptyChunk(tokenizer, pad_id));
}

}  // namespace easel::text

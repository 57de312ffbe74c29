// Prompt chunking into 77-token windows: see prompt_chunks.h.
#include "engine/text/prompt_chunks.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "util/status.h"

namespace easel::text {

TokenChunk EmptyChunk(const ClipTokenizer& tokenizer, int pad_id) {
  TokenChunk c;
  c.ids.fill(pad_id);
  c.weights.fill(1.0f);
  c.ids[0] = tokenizer.bos_id();
  c.ids[1] = tokenizer.eos_id();
  return c;
}

namespace {

// One unit of a fragment: a token, or an embedding (token -1).
struct Item {
  int token = -1;
  int embedding = -1;
};

bool NameChar(char c) {
  return !(std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '(' || c == ')' ||
           c == '[' || c == ']' || c == '<' || c == '>' || c == '|' || c == '"');
}

std::string StripExtension(std::string name) {
  for (const char* ext : {".safetensors", ".pt", ".bin"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0)
      return name.substr(0, name.size() - e.size());
  }
  return name;
}

// Tokens of plain text with A1111 name matching.
void AddText(std::string_view text, const ClipTokenizer& tokenizer,
             const EmbeddingVocabulary* vocab, std::vector<Item>* out) {
  const std::vector<int> tokens = tokenizer.Encode(text);
  for (size_t i = 0; i < tokens.size();) {
    const int e = vocab ? vocab->MatchAt(tokens, i) : -1;
    if (e < 0) {
      out->push_back({tokens[i], -1});
      ++i;
    } else {
      out->push_back({-1, e});
      i += vocab->at(e).tokens.size();
    }
  }
}

// A fragment's items: `embedding:name` references (ComfyUI) and text between them.
std::vector<Item> Items(const std::string& text, const ClipTokenizer& tokenizer,
                        const EmbeddingVocabulary* vocab) {
  std::vector<Item> out;
  static const std::string kTag = "embedding:";
  size_t start = 0;
  size_t at = vocab ? text.find(kTag) : std::string::npos;
  while (at != std::string::npos) {
    const bool word_start = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    size_t end = at + kTag.size();
    while (end < text.size() && NameChar(text[end])) ++end;
    if (!word_start || end == at + kTag.size()) {
      at = text.find(kTag, at + 1);
      continue;
    }
    AddText(std::string_view(text).substr(start, at - start), tokenizer, vocab, &out);
    const std::string written = text.substr(at + kTag.size(), end - at - kTag.size());
    const int e = vocab->FindName(StripExtension(written));
    if (e < 0)
      throw Error(Code::kNotFound, "the prompt names embedding '" + written + "' (embedding:" +
                                       written + "), but no embedding file has that name");
    out.push_back({-1, e});
    start = end;
    at = text.find(kTag, end);
  }
  AddText(std::string_view(text).substr(start), tokenizer, vocab, &out);
  return out;
}

}  // namespace

std::vector<TokenChunk> ChunkPrompt(const std::vector<PromptFragment>& fragments,
                                    const ClipTokenizer& tokenizer, int pad_id,
                                    const ChunkOptions& options,
                                    const EmbeddingVocabulary* embeddings) {
  const int comma = tokenizer.TokenId(",</w>");
  std::vector<TokenChunk> chunks;
  std::vector<int> ids;        // the current chunk's prompt tokens (at most 75)
  std::vector<float> weights;  // their weights
  std::vector<EmbeddingFix> fixes;
  int last_comma = -1;  // index in ids of the last comma, -1 if none

  auto close_chunk = [&] {
    TokenChunk c;
    c.ids.fill(pad_id);
    c.weights.fill(1.0f);
    c.ids[0] = tokenizer.bos_id();
    std::copy(ids.begin(), ids.end(), c.ids.begin() + 1);
    std::copy(weights.begin(), weights.end(), c.weights.begin() + 1);
    c.ids[ids.size() + 1] = tokenizer.eos_id();
    c.fixes = std::move(fixes);
    chunks.push_back(std::move(c));
    ids.clear();
    weights.clear();
    fixes.clear();
    last_comma = -1;
  };

  for (const PromptFragment& f : fragments) {
    if (f.is_break) {
      close_chunk();
      continue;
    }
    for (const Item& item : Items(f.text, tokenizer, embeddings)) {
      const int size = static_cast<int>(ids.size());
      if (item.token == comma) {
        last_comma = size;
      } else if (options.comma_backtrack != 0 && size == kChunkTokens && last_comma != -1 &&
                 size - last_comma <= options.comma_backtrack) {
        // Move what follows the comma (with its embeddings) to the next chunk.
        const int cut = last_comma + 1;
        std::vector<int> moved_ids(ids.begin() + cut, ids.end());
        std::vector<float> moved_weights(weights.begin() + cut, weights.end());
        std::vector<EmbeddingFix> kept, moved;
        for (EmbeddingFix fix : fixes) {
          if (fix.offset >= cut) {
            fix.offset -= cut;
            moved.push_back(fix);
          } else {
            kept.push_back(fix);
          }
        }
        ids.resize(static_cast<size_t>(cut));
        weights.resize(static_cast<size_t>(cut));
        fixes = std::move(kept);
        close_chunk();
        ids = std::move(moved_ids);
        weights = std::move(moved_weights);
        fixes = std::move(moved);
      }
      if (item.embedding < 0) {
        if (static_cast<int>(ids.size()) == kChunkTokens) close_chunk();
        ids.push_back(item.token);
        weights.push_back(f.weight);
        continue;
      }
      const int count = embeddings->vector_count ? embeddings->vector_count(item.embedding) : 0;
      if (count < 1 || count > kChunkTokens)
        throw Error(Code::kInvalidArgument, "embedding '" + embeddings->at(item.embedding).name +
                                                "' has " + std::to_string(count) +
                                                " vectors; a prompt chunk holds 1.." +
                                                std::to_string(kChunkTokens));
      if (static_cast<int>(ids.size()) + count > kChunkTokens) close_chunk();
      fixes.push_back({static_cast<int>(ids.size()), item.embedding, count});
      ids.insert(ids.end(), static_cast<size_t>(count), kEmbeddingPlaceholderId);
      weights.insert(weights.end(), static_cast<size_t>(count), f.weight);
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

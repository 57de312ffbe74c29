// Splits a parsed prompt into CLIP's 77-token windows, as A1111 does (sd_hijack_clip.py's
// tokenize_line), so prompts longer than 75 tokens work and each token keeps its weight.
//
// Rules: each fragment is tokenized on its own and its tokens take its weight; a chunk holds
// 75 tokens; a BREAK fragment closes the current chunk (even an empty one); when a chunk is
// full and a comma was seen within its last `comma_backtrack` tokens, the tokens after that
// comma move to the next chunk; a prompt with no tokens gives one chunk.
// Layout of a chunk (as ComfyUI and diffusers lay a sequence):
//   ids:     [bos, t1 .. tk, eos, pad, pad, ...]   77 entries
//   weights: [1,   w1 .. wk, 1,   1,   1,   ...]
// pad_id is the text encoder's padding: eos (49407) for SD1's CLIP-L, 0 for OpenCLIP (SD2,
// SDXL's second encoder).
//
// Textual-inversion embeddings (when a vocabulary is given): a name's token sequence inside a
// fragment, or ComfyUI's `embedding:name`, becomes `count` placeholder tokens (id 0, the
// fragment's weight) and a fix {offset, embedding, count} that the encoder fills with the
// vectors. An embedding that does not fit in the current chunk starts the next one (A1111's
// tokenize_line); the comma rule moves fixes with their tokens. `embedding:name` with no such
// name throws easel::Error(kNotFound); an embedding of more than 75 vectors throws
// kInvalidArgument. A plain word that is no embedding stays text.
//
// Pure functions; the tokenizer is only read.
#pragma once

#include <array>
#include <vector>

#include "engine/text/clip_tokenizer.h"
#include "engine/text/embedding_vocab.h"
#include "engine/text/prompt_parser.h"

namespace easel::text {

constexpr int kChunkTokens = 75;  // prompt tokens per chunk
constexpr int kChunkLength = 77;  // with bos and eos

// An embedding's vectors go to ids positions 1 + offset .. 1 + offset + count - 1.
struct EmbeddingFix {
  int offset = 0;     // index among the chunk's prompt tokens (0 = right after bos)
  int embedding = 0;  // index in the EmbeddingVocabulary
  int count = 0;      // vectors
};

struct TokenChunk {
  std::array<int, kChunkLength> ids{};
  std::array<float, kChunkLength> weights{};
  std::vector<EmbeddingFix> fixes;
};

constexpr int kEmbeddingPlaceholderId = 0;  // A1111 fills embedding positions with 0

struct ChunkOptions {
  // A1111's comma_padding_backtrack (its default 20); 0 turns the comma rule off.
  int comma_backtrack = 20;
};

// `embeddings` may be null (no textual inversion: names and `embedding:` stay text).
std::vector<TokenChunk> ChunkPrompt(const std::vector<PromptFragment>& fragments,
                                    const ClipTokenizer& tokenizer, int pad_id,
                                    const ChunkOptions& options = {},
                                    const EmbeddingVocabulary* embeddings = nullptr);

// The chunk of an empty prompt: [bos, eos, pad, ...], all weights 1.
TokenChunk EmptyChunk(const ClipTokenizer& tokenizer, int pad_id);

// Appends empty-prompt chunks to the shorter list until both have as many chunks (A1111 pads
// cond and uncond this way so their encodings can be batched together).
void PadToSameChunkCount(std::vector<TokenChunk>* a, std::vector<TokenChunk>* b,
                         const ClipTokenizer& tokenizer, int pad_id);

}  // namespace easel::text

// Prompt chunks -> the cross-attention context of SD1.x/SD2.x: each 77-token chunk (75
// prompt tokens between BOS and EOS/padding, built by engine/text/prompt_chunks.h) goes
// through the CLIP text encoder, A1111's "Original" emphasis scales it by the per-token
// weights, and the chunks are concatenated along the token axis, as A1111's
// modules/sd_hijack_clip.py and modules/sd_emphasis.py do for prompts past 75 tokens.
// Stateless functions; thread-safety is the model's (one caller at a time).
#pragma once

#include <torch/types.h>

#include <vector>

#include "engine/nets/clip_text.h"
#include "engine/text/prompt_chunks.h"

namespace easel::engine {

// A1111 emphasis "Original": z' = z * w[..., None], then z' *= mean(z) / mean(z'), the
// means over every element of the chunk (so emphasis shifts direction, not overall scale).
// z: [B, T, D], weights: [B, T] -> [B, T, D]; each batch row is one chunk and gets its own
// means. Means are taken in float32 whatever z's dtype.
torch::Tensor ApplyEmphasis(const torch::Tensor& z, const torch::Tensor& weights);

// ids: [K, 77] int64, weights: [K, 77] float (K chunks) -> [1, 77 * K, D] on the model's
// device and dtype. Runs without autograd. Throws easel::Error(kInvalidArgument) for
// mismatched shapes or K == 0.
torch::Tensor EncodeChunks(ClipTextModelImpl& model, const torch::Tensor& ids,
                           const torch::Tensor& weights, int clip_skip);

// SDXL and textual inversion: the chunks' hidden states under `options` (layer, final norm),
// with emphasis, side by side, and the pooled output of the FIRST chunk (A1111 and ComfyUI
// both pool the first 77 tokens; emphasis does not touch it). `embeds` [K, 77, D] replaces the
// token embeddings of `ids` when defined (model.TokenEmbeddings(ids) with rows swapped for
// embedding vectors). -> context [1, 77K, D], pooled [1, P] (undefined unless options.pooled).
struct ChunkEncoding {
  torch::Tensor context;
  torch::Tensor pooled;
};
ChunkEncoding EncodeChunks(ClipTextModelImpl& model, const torch::Tensor& ids,
                           const torch::Tensor& weights, const torch::Tensor& embeds,
                           const ClipTextModelImpl::RunOptions& options);

// Chunk token ids [K, 77] int64 and weights [K, 77] float from the prompt parser's chunks.
void ChunksToTensors(const std::vector<text::TokenChunk>& chunks, torch::Tensor* ids,
                     torch::Tensor* weights);

// The same from the prompt parser's chunks.
torch::Tensor EncodeChunks(ClipTextModelImpl& model, const std::vector<text::TokenChunk>& chunks,
                           int clip_skip);

}  // namespace easel::engine

// CLIP conditioning of prompt chunks with A1111 emphasis. See clip_conditioner.h.
#include "engine/nets/clip_conditioner.h"

#include <torch/torch.h>

#include <string>

namespace easel::engine {

torch::Tensor ApplyEmphasis(const torch::Tensor& z, const torch::Tensor& weights) {
  if (z.dim() != 3 || weights.dim() != 2 || weights.size(0) != z.size(0) ||
      weights.size(1) != z.size(1))
    throw Error(Code::kInvalidArgument,
                "emphasis weights must be [batch, tokens] matching the "
                "text embedding [batch, tokens, width]");
  const torch::Tensor w = weights.to(z.device(), z.scalar_type()).unsqueeze(-1);  // [B, T, 1]
  torch::Tensor scaled = z * w;
  // Per-chunk means: [B, 1, 1]
  const torch::Tensor old_mean = z.to(torch::kFloat32).mean({1, 2}, /*keepdim=*/true);
  const torch::Tensor new_mean = scaled.to(torch::kFloat32).mean({1, 2}, /*keepdim=*/true);
  return scaled * (old_mean / new_mean).to(z.scalar_type());
}

torch::Tensor EncodeChunks(ClipTextModelImpl& model, const torch::Tensor& ids,
                           const torch::Tensor& weights, int clip_skip) {
  if (ids.dim() != 2 || ids.size(0) == 0 || weights.sizes() != ids.sizes())
    throw Error(Code::kInvalidArgument,
                "prompt chunks must be [chunks, 77] token ids with weights of the same shape");
  torch::NoGradGuard no_grad;
  torch::Tensor z = model.Forward(ids, clip_skip);  // [K, 77, D]
  z = ApplyEmphasis(z, weights);
  return z.reshape({1, z.size(0) * z.size(1), z.size(2)});  // chunks side by side: [1, 77K, D]
}

ChunkEncoding EncodeChunks(ClipTextModelImpl& model, const torch::Tensor& ids,
                           const torch::Tensor& weights, const torch::Tensor& embeds,
                           const ClipTextModelImpl::RunOptions& options) {
  if (ids.dim() != 2 || ids.size(0) == 0 || weights.sizes() != ids.sizes())
    throw Error(Code::kInvalidArgument,
                "prompt chunks must be [chunks, 77] token ids with weights of the same shape");
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = embeds.defined() ? embeds : model.TokenEmbeddings(ids);
  ClipTextModelImpl::Outputs out = model.ForwardEmbeds(tokens, ids, options);  // [K, 77, D]
  torch::Tensor z = ApplyEmphasis(out.hidden, weights);
  ChunkEncoding enc;
  enc.context = z.reshape({1, z.size(0) * z.size(1), z.size(2)});
  if (out.pooled.defined()) enc.pooled = out.pooled.slice(0, 0, 1);  // the first chunk's
  return enc;
}

void ChunksToTensors(const std::vector<text::TokenChunk>& chunks, torch::Tensor* ids,
                     torch::Tensor* weights) {
  const int64_t k = static_cast<int64_t>(chunks.size());
  if (k == 0) throw Error(Code::kInvalidArgument, "no prompt chunks to encode");
  const int64_t t = static_cast<int64_t>(chunks[0].ids.size());
  *ids = torch::empty({k, t}, torch::kInt64);
  *weights = torch::empty({k, t}, torch::kFloat32);
  auto ids_a = ids->accessor<int64_t, 2>();
  auto w_a = weights->accessor<float, 2>();
  for (int64_t c = 0; c < k; ++c)
    for (int64_t i = 0; i < t; ++i) {
      ids_a[c][i] = chunks[c].ids[i];
      w_a[c][i] = chunks[c].weights[i];
    }
}

torch::Tensor EncodeChunks(ClipTextModelImpl& model, const std::vector<text::TokenChunk>& chunks,
                           int clip_skip) {
  torch::Tensor ids, weights;
  ChunksToTensors(chunks, &ids, &weights);
  return EncodeChunks(model, ids, weights, clip_skip);
}

}  // namespace easel::engine

// The CLIP text encoder (OpenAI CLIP-L for SD1.x and SDXL, OpenCLIP ViT-H for SD2.x,
// OpenCLIP ViT-bigG for SDXL's second encoder, with its text_projection) as a libtorch
// module whose children carry Hugging Face transformers' CLIPTextModel names (without the
// "text_model." prefix), so loading is a name-for-name copy:
//   embeddings.token_embedding.weight            [vocab, D]
//   embeddings.position_embedding.weight         [max_positions, D]
//   encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}
//   encoder.layers.{i}.layer_norm{1,2}.{weight,bias}
//   encoder.layers.{i}.mlp.fc{1,2}.{weight,bias}
//   final_layer_norm.{weight,bias}
//   [text_projection.weight]                    [projection, D], no bias
//   (CLIPTextModelWithProjection)
// Pre-norm transformer with a causal mask (Radford et al. 2021, "Learning Transferable
// Visual Models From Natural Language Supervision"); reference: transformers'
// models/clip/modeling_clip.py. Not thread-safe: one caller at a time per module.
// Linear and Embedding weights start uninitialised (nets/layers.h): load them, or give them
// layers::InitLikeTorch, before running it.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "engine/nets/layers.h"
#include "engine/weights.h"
#include "util/status.h"

namespace easel::engine {

// The MLP's activation: the family decides it, not the weights. SD1 (OpenAI CLIP) uses
// quick_gelu x*sigmoid(1.702x); SD2 (OpenCLIP) uses the exact erf gelu.
enum class ClipActivation { kQuickGelu, kGelu };
const char* ClipActivationName(ClipActivation act);  // "quick_gelu" / "gelu" (HF hidden_act)
// Parses an HF config's hidden_act ("quick_gelu", "gelu"); false for anything else.
bool ParseClipActivation(const std::string& name, ClipActivation* out);

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden = 768;
  int64_t layers = 12;
  int64_t max_positions = 77;
  int64_t intermediate = 3072;
  int64_t heads = 12;
  ClipActivation activation = ClipActivation::kQuickGelu;
  double layer_norm_eps = 1e-5;
  int64_t projection_dim = 0;  // text_projection output width; 0 = no projection (pooled unused)

  // Sizes read from HF-named weights (as ClipTextModel names them). `heads` cannot be read
  // from weights: 0 applies the rule of every released model, hidden / 64 (CLIP-L 768 -> 12,
  // OpenCLIP-H 1024 -> 16, bigG 1280 -> 20); tiny test models pass it explicitly.
  // projection_dim comes from text_projection.weight when the weights have one. Fails with
  // kInvalidArgument naming the missing key or the inconsistent shape, or when hidden is not
  // divisible by heads (then: pass heads explicitly).
  static Result<ClipTextConfig> FromWeights(const StateDict& weights, ClipActivation activation,
                                            int64_t heads = 0);
};

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(int64_t hidden, int64_t heads);
  // x: [B, T, D], mask: [T, T] additive (0 / -inf) -> [B, T, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  int64_t heads_;
  layers::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, out_proj_{nullptr};
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(int64_t hidden, int64_t intermediate, ClipActivation activation);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, D] -> [B, T, D]

 private:
  ClipActivation activation_;
  layers::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit ClipEncoderLayerImpl(const ClipTextConfig& config);
  // x + attn(ln1(x)), then + mlp(ln2(.)). x: [B, T, D] -> [B, T, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  ClipAttention self_attn_{nullptr};
  torch::nn::LayerNorm layer_norm1_{nullptr}, layer_norm2_{nullptr};
  ClipMlp mlp_{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

class ClipTextModelImpl : public torch::nn::Module {
 public:
  explicit ClipTextModelImpl(const ClipTextConfig& config);

  // ids: [B, T] int64 with T <= max_positions (77) -> [B, T, D]: the hidden state after
  // layer (layers - clip_skip + 1), through final_layer_norm. clip_skip 1 = the last layer
  // (transformers' last_hidden_state); 2 = hidden_states[-2] + final_layer_norm (A1111's
  // "Clip skip 2"). Throws easel::Error(kInvalidArgument) for clip_skip outside
  // [1, layers] or a bad ids shape. Runs in the module's dtype and device.
  torch::Tensor Forward(const torch::Tensor& ids, int clip_skip = 1);

  // What ForwardEmbeds returns; `pooled` is undefined unless asked for.
  struct Outputs {
    torch::Tensor hidden;  // [B, T, D]
    torch::Tensor pooled;  // [B, projection_dim] (or [B, D] without a projection)
  };
  struct RunOptions {
    int clip_skip = 1;       // hidden = output of layer (layers - clip_skip + 1)
    bool final_norm = true;  // through final_layer_norm (SD1/SD2); SDXL takes the penultimate
                             // layer's hidden states without it
    bool pooled = false;     // also the pooled output: final_layer_norm(last layer) at the EOS
                             // token (the first position of the largest id, as OpenCLIP and
                             // SGM find it), through text_projection when the model has one
  };
  // The token embeddings of `ids` [B, T] -> [B, T, D] (before position embeddings): callers
  // may replace rows (textual inversion) and pass them to ForwardEmbeds.
  torch::Tensor TokenEmbeddings(const torch::Tensor& ids);
  // Runs the encoder on token embeddings `embeds` [B, T, D]; `ids` [B, T] locate the EOS
  // token for the pooled output. Throws like Forward.
  Outputs ForwardEmbeds(const torch::Tensor& embeds, const torch::Tensor& ids,
                        const RunOptions& options);

  const ClipTextConfig& config() const { return config_; }

 private:
  ClipTextConfig config_;
  layers::Embedding token_embedding_{nullptr}, position_embedding_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  torch::nn::LayerNorm final_layer_norm_{nullptr};
  layers::Linear text_projection_{nullptr};  // only with projection_dim > 0
};
TORCH_MODULE(ClipTextModel);

// HF CLIPTextModel weights as stored (with or without the "text_model." prefix, e.g. a
// diffusers text_encoder/ file or an SD1 checkpoint's cond_stage_model.transformer.*) ->
// the names ClipTextModel loads. Drops what the module does not hold: the int64
// embeddings.position_ids buffer many SD1 files carry (some with corrupted values: positions
// are always 0..T-1 here) and, unless keep_projection (SDXL's second encoder, whose pooled
// output is used), text_projection.weight of CLIPTextModelWithProjection.
StateDict NormalizeHfClipText(const StateDict& hf, bool keep_projection = false);

// OpenCLIP text-tower weights (SD2 single files, cond_stage_model.model.* with the prefix
// stripped: token_embedding.weight, positional_embedding, transformer.resblocks.{i}.{ln_1,
// attn.in_proj_{weight,bias}, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_final,
// text_projection, logit_scale) -> ClipTextModel names. in_proj [3D, D] splits into q, k, v
// (rows in that order). The last `drop_last_layers` resblocks are dropped: SD2 conditions
// on the penultimate layer, so its converters (diffusers, A1111's "Clip skip 1" for SD2)
// drop one, and clip_skip 1 on the result is SD2's intended output. text_projection and
// logit_scale are dropped (unused by text-to-image). Throws easel::Error(kInvalidArgument)
// when a required key is missing or drop_last_layers leaves no layer.
StateDict OpenClipToHf(const StateDict& openclip, int drop_last_layers);

// SDXL's OpenCLIP-bigG (SGM conditioner.embedders.N.model.*, prefix stripped) -> ClipTextModel
// names with every layer kept and text_projection [D, P] (x @ P) as text_projection.weight
// [P, D] (a Linear). Throws like OpenClipToHf, or when text_projection is missing or not 2-D.
StateDict OpenClipToHfWithProjection(const StateDict& openclip);

}  // namespace easel::engine

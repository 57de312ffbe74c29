// CLIP text encoder: module, config from weights, and the OpenCLIP -> HF key conversion.
#include "engine/nets/clip_text.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace easel::engine {
namespace {

const torch::Tensor& Need(const StateDict& w, const std::string& key, int64_t dims) {
  auto it = w.find(key);
  if (it == w.end())
    throw Error(Code::kInvalidArgument,
                "CLIP text encoder weights lack '" + key +
                    "': expected Hugging Face CLIPTextModel names (embeddings.*, encoder.layers.*, "
                    "final_layer_norm.*)");
  if (it->second.dim() != dims)
    throw Error(Code::kInvalidArgument, "CLIP text encoder weight '" + key + "' has " +
                                            std::to_string(it->second.dim()) + " dimensions, " +
                                            "expected " + std::to_string(dims));
  return it->second;
}

std::string LayerKey(int64_t i, const std::string& rest) {
  return "encoder.layers." + std::to_string(i) + "." + rest;
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

const char* ClipActivationName(ClipActivation act) {
  return act == ClipActivation::kGelu ? "gelu" : "quick_gelu";
}

bool ParseClipActivation(const std::string& name, ClipActivation* out) {
  if (name == "quick_gelu") {
    *out = ClipActivation::kQuickGelu;
    return true;
  }
  if (name == "gelu") {
    *out = ClipActivation::kGelu;
    return true;
  }
  return false;
}

Result<ClipTextConfig> ClipTextConfig::FromWeights(const StateDict& weights,
                                                   ClipActivation activation, int64_t heads) {
  ClipTextConfig c;
  Status st = CatchAll([&] {
    const torch::Tensor tok = Need(weights, "embeddings.token_embedding.weight", 2);
    const torch::Tensor pos = Need(weights, "embeddings.position_embedding.weight", 2);
    c.vocab_size = tok.size(0);
    c.hidden = tok.size(1);
    c.max_positions = pos.size(0);
    if (pos.size(1) != c.hidden)
      throw Error(Code::kInvalidArgument,
                  "CLIP position embedding width " + std::to_string(pos.size(1)) +
                      " differs from the token embedding width " + std::to_string(c.hidden));
    c.layers = 0;
    while (weights.count(LayerKey(c.layers, "layer_norm1.weight"))) ++c.layers;
    if (c.layers == 0)
      throw Error(Code::kInvalidArgument,
                  "CLIP text encoder weights have no encoder.layers.0.*: not a CLIP text model");
    c.intermediate = Need(weights, LayerKey(0, "mlp.fc1.weight"), 2).size(0);
    if (weights.count("text_projection.weight")) {
      const torch::Tensor proj = Need(weights, "text_projection.weight", 2);  // [P, D]
      if (proj.size(1) != c.hidden)
        throw Error(Code::kInvalidArgument,
                    "CLIP text_projection.weight " + std::to_string(proj.size(0)) + "x" +
                        std::to_string(proj.size(1)) + " does not take the width " +
                        std::to_string(c.hidden));
      c.projection_dim = proj.size(0);
    }
    c.activation = activation;
    c.heads = heads > 0 ? heads : c.hidden / 64;
    if (c.heads <= 0 || c.hidden % c.heads != 0)
      throw Error(
          Code::kInvalidArgument,
          "CLIP text width " + std::to_string(c.hidden) + " does not split into " +
              (heads > 0 ? std::to_string(heads) + " heads"
                         : std::string("heads of 64 (the rule of released models)")) +
              ": pass the number of attention heads explicitly (easel generate --text-heads N)");
  });
  if (!st.ok()) return st;
  return c;
}

ClipAttentionImpl::ClipAttentionImpl(int64_t hidden, int64_t heads) : heads_(heads) {
  q_proj_ = register_module("q_proj", layers::Linear(hidden, hidden));
  k_proj_ = register_module("k_proj", layers::Linear(hidden, hidden));
  v_proj_ = register_module("v_proj", layers::Linear(hidden, hidden));
  out_proj_ = register_module("out_proj", layers::Linear(hidden, hidden));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), hd = d / heads_;
  // [B, T, D] -> [B, heads, T, hd]
  auto split = [&](const torch::Tensor& y) { return y.view({b, t, heads_, hd}).transpose(1, 2); };
  torch::Tensor q = split(q_proj_(x)), k = split(k_proj_(x)), v = split(v_proj_(x));
  // scores: [B, heads, T, T], scaled by 1/sqrt(hd) after the product as transformers does.
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)) * (1.0 / std::sqrt(double(hd)));
  // Softmax in float32 (as transformers does) so fp16 weights keep the reference accuracy.
  torch::Tensor probs = torch::softmax(scores + mask, /*dim=*/-1, torch::kFloat32).to(q.dtype());
  torch::Tensor out = torch::matmul(probs, v).transpose(1, 2).reshape({b, t, d});
  return out_proj_(out);
}

ClipMlpImpl::ClipMlpImpl(int64_t hidden, int64_t intermediate, ClipActivation activation)
    : activation_(activation) {
  fc1_ = register_module("fc1", layers::Linear(hidden, intermediate));
  fc2_ = register_module("fc2", layers::Linear(intermediate, hidden));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1_(x);  // [B, T, I]
  h = activation_ == ClipActivation::kGelu ? torch::gelu(h) : h * torch::sigmoid(1.702 * h);
  return fc2_(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipTextConfig& c) {
  auto ln = [&] {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden}).eps(c.layer_norm_eps));
  };
  self_attn_ = register_module("self_attn", ClipAttention(c.hidden, c.heads));
  layer_norm1_ = register_module("layer_norm1", ln());
  mlp_ = register_module("mlp", ClipMlp(c.hidden, c.intermediate, c.activation));
  layer_norm2_ = register_module("layer_norm2", ln());
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  torch::Tensor h = x + self_attn_(layer_norm1_(x), mask);
  return h + mlp_(layer_norm2_(h));
}

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& config) : config_(config) {
  // Plain modules as name spaces, so parameters are named embeddings.* and encoder.layers.*.
  auto embeddings = register_module("embeddings", std::make_shared<torch::nn::Module>());
  token_embedding_ = embeddings->register_module(
      "token_embedding", layers::Embedding(config.vocab_size, config.hidden));
  position_embedding_ = embeddings->register_module(
      "position_embedding", layers::Embedding(config.max_positions, config.hidden));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  layers_ = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.layers; ++i) layers_->push_back(ClipEncoderLayer(config));
  final_layer_norm_ =
      register_module("final_layer_norm",
                      torch::nn::LayerNorm(
                          torch::nn::LayerNormOptions({config.hidden}).eps(config.layer_norm_eps)));
  if (config.projection_dim > 0)
    text_projection_ = register_module(
        "text_projection",
        layers::Linear(torch::nn::LinearOptions(config.hidden, config.projection_dim).bias(false)));
}

torch::Tensor ClipTextModelImpl::Forward(const torch::Tensor& ids, int clip_skip) {
  RunOptions options;
  options.clip_skip = clip_skip;
  return ForwardEmbeds(TokenEmbeddings(ids), ids, options).hidden;
}

torch::Tensor ClipTextModelImpl::TokenEmbeddings(const torch::Tensor& ids_in) {
  if (ids_in.dim() != 2 || ids_in.size(1) > config_.max_positions || ids_in.size(1) == 0)
    throw Error(Code::kInvalidArgument, "CLIP token ids must be [batch, tokens] with 1.." +
                                            std::to_string(config_.max_positions) +
                                            " tokens, got " + std::to_string(ids_in.dim()) +
                                            " dimensions");
  const torch::Tensor& weight = token_embedding_->weight;
  return token_embedding_(ids_in.to(weight.device(), torch::kInt64));  // [B, T, D]
}

ClipTextModelImpl::Outputs ClipTextModelImpl::ForwardEmbeds(const torch::Tensor& embeds,
                                                            const torch::Tensor& ids_in,
                                                            const RunOptions& options) {
  const int clip_skip = options.clip_skip;
  if (clip_skip < 1 || clip_skip > config_.layers)
    throw Error(Code::kInvalidArgument, "clip skip " + std::to_string(clip_skip) +
                                            " is outside 1.." + std::to_string(config_.layers) +
                                            " (the text encoder has " +
                                            std::to_string(config_.layers) + " layers)");
  if (embeds.dim() != 3 || embeds.size(1) > config_.max_positions ||
      embeds.size(2) != config_.hidden || ids_in.dim() != 2 || ids_in.size(0) != embeds.size(0) ||
      ids_in.size(1) != embeds.size(1))
    throw Error(
        Code::kInvalidArgument,
        "CLIP token embeddings must be [batch, tokens <= " + std::to_string(config_.max_positions) +
            ", " + std::to_string(config_.hidden) + "] with ids [batch, tokens]");
  const torch::Tensor& weight = token_embedding_->weight;
  const int64_t t = embeds.size(1);
  torch::Tensor positions =
      torch::arange(t, torch::TensorOptions(weight.device()).dtype(torch::kInt64));
  // x: [B, T, D]
  torch::Tensor x = embeds.to(weight.device(), weight.scalar_type()) +
                    position_embedding_(positions).unsqueeze(0);
  // Causal mask [T, T]: token i attends to tokens 0..i.
  torch::Tensor mask =
      torch::full({t, t}, -std::numeric_limits<double>::infinity(), weight.options())
          .triu(/*diagonal=*/1);
  const int64_t run = options.pooled ? config_.layers : config_.layers - clip_skip + 1;
  const int64_t keep = config_.layers - clip_skip + 1;  // the layer whose output is `hidden`
  Outputs out;
  for (int64_t i = 0; i < run; ++i) {
    x = layers_[i]->as<ClipEncoderLayerImpl>()->forward(x, mask);
    if (i + 1 == keep) out.hidden = options.final_norm ? final_layer_norm_(x) : x;
  }
  if (options.pooled) {
    // The EOS token: the first position of the largest id (eos 49407 is the largest id).
    const torch::Tensor eos = ids_in.to(weight.device(), torch::kInt64).argmax(/*dim=*/1);  // [B]
    torch::Tensor last = final_layer_norm_(x);
    torch::Tensor rows = torch::arange(last.size(0), eos.options());
    torch::Tensor pooled = last.index({rows, eos});  // [B, D]
    out.pooled = text_projection_ ? text_projection_(pooled) : pooled;
  }
  return out;
}

StateDict NormalizeHfClipText(const StateDict& hf, bool keep_projection) {
  const std::string prefix = "text_model.";
  bool prefixed = false;
  for (const auto& [k, v] : hf) prefixed = prefixed || StartsWith(k, prefix);
  StateDict out;
  for (const auto& [k, v] : hf) {
    if (keep_projection && k == "text_projection.weight") {
      out.emplace(k, v);
      continue;
    }
    if (prefixed && !StartsWith(k, prefix)) continue;  // text_projection.weight, logit_scale
    std::string name = prefixed ? k.substr(prefix.size()) : k;
    if (name == "embeddings.position_ids") continue;
    if (name == "text_projection.weight" && !keep_projection) continue;
    out.emplace(std::move(name), v);
  }
  return out;
}

StateDict OpenClipToHf(const StateDict& oc, int drop_last_layers) {
  int64_t n = 0;
  while (oc.count("transformer.resblocks." + std::to_string(n) + ".ln_1.weight")) ++n;
  if (n == 0)
    throw Error(Code::kInvalidArgument,
                "OpenCLIP text weights have no transformer.resblocks.0.*: not an OpenCLIP text "
                "tower");
  const int64_t keep = n - drop_last_layers;
  if (drop_last_layers < 0 || keep < 1)
    throw Error(Code::kInvalidArgument, "cannot drop " + std::to_string(drop_last_layers) +
                                            " of the " + std::to_string(n) +
                                            " OpenCLIP text layers");
  static const std::vector<std::pair<std::string, std::string>> kBlockRenames = {
      {"ln_1.", "layer_norm1."},
      {"ln_2.", "layer_norm2."},
      {"attn.out_proj.", "self_attn.out_proj."},
      {"mlp.c_fc.", "mlp.fc1."},
      {"mlp.c_proj.", "mlp.fc2."}};
  StateDict out;
  for (const auto& [k, v] : oc) {
    if (k == "token_embedding.weight") {
      out["embeddings.token_embedding.weight"] = v;
    } else if (k == "positional_embedding") {
      out["embeddings.position_embedding.weight"] = v;
    } else if (StartsWith(k, "ln_final.")) {
      out["final_layer_norm." + k.substr(9)] = v;
    } else if (k == "text_projection" || k == "logit_scale") {
      continue;  // the joint-space projection and CLIP's contrastive temperature
    } else if (StartsWith(k, "transformer.resblocks.")) {
      const std::string rest = k.substr(22);  // "{i}.ln_1.weight"
      const size_t dot = rest.find('.');
      const int64_t i = std::stoll(rest.substr(0, dot));
      if (i >= keep) continue;
      const std::string sub = rest.substr(dot + 1);
      const std::string base = "encoder.layers." + std::to_string(i) + ".";
      if (sub == "attn.in_proj_weight" || sub == "attn.in_proj_bias") {
        // [3D, D] (or [3D]) -> q, k, v rows in that order (torch MultiheadAttention).
        if (v.size(0) % 3 != 0)
          throw Error(Code::kInvalidArgument, "OpenCLIP '" + k + "' has " +
                                                  std::to_string(v.size(0)) +
                                                  " rows: not divisible into q, k, v");
        auto parts = v.chunk(3, 0);
        const std::string leaf = sub == "attn.in_proj_weight" ? "weight" : "bias";
        out[base + "self_attn.q_proj." + leaf] = parts[0];
        out[base + "self_attn.k_proj." + leaf] = parts[1];
        out[base + "self_attn.v_proj." + leaf] = parts[2];
        continue;
      }
      bool renamed = false;
      for (const auto& [from, to] : kBlockRenames) {
        if (StartsWith(sub, from)) {
          out[base + to + sub.substr(from.size())] = v;
          renamed = true;
          break;
        }
      }
      // Anything else passes through so LoadIntoModule names it as unexpected.
      if (!renamed) out[k] = v;
    } else {
      out[k] = v;
    }
  }
  return out;
}

StateDict OpenClipToHfWithProjection(const StateDict& oc) {
  auto it = oc.find("text_projection");
  if (it == oc.end() || it->second.dim() != 2)
    throw Error(Code::kInvalidArgument,
                "OpenCLIP text weights have no 2-D text_projection, which SDXL's second text "
                "encoder needs for its pooled output");
  StateDict out = OpenClipToHf(oc, /*drop_last_layers=*/0);
  out["text_projection.weight"] = it->second.t();  // [D, P] -> Linear weight [P, D]
  return out;
}

}  // namespace easel::engine

// The Llama-family forward pass. See llama_model.h.
#include "llm/torch/llama_model.h"

#include <cmath>
#include <limits>

#include "llm/dequant.h"

namespace easel::llm {

namespace {

// x: [T, D] -> x / rms(x) * w, the mean square in float32 as transformers' LlamaRMSNorm
// (a float32 model computes exactly x * rsqrt(mean(x^2) + eps) * w).
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  if (x.scalar_type() == torch::kFloat32) {
    const torch::Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
    return x * torch::rsqrt(var + eps) * w;
  }
  const torch::Tensor xf = x.to(torch::kFloat32);
  const torch::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  return (xf * torch::rsqrt(var + eps)).to(x.scalar_type()) * w;
}

// x: [T, in], w: [out, in] -> [T, out]. One row (decoding) goes through mv, about 3x faster
// than a [1, in] x [in, out] matmul with the transposed weight on libtorch's CPU backend.
torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& w) {
  if (x.size(0) == 1) return torch::mv(w, x[0]).unsqueeze(0);
  return torch::matmul(x, w.t());
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s;
  for (int64_t d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "[" + s + "]";
}

// Every weight the config needs with its PyTorch shape ([out, in] for projections).
std::vector<std::pair<std::string, std::vector<int64_t>>> ExpectedWeights(const LlamaConfig& c) {
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> w = {
      {"token_embd.weight", {c.vocab_size, c.d_model}}, {"output_norm.weight", {c.d_model}}};
  if (!c.tied_embeddings) w.push_back({"output.weight", {c.vocab_size, c.d_model}});
  if (c.rope_freqs) w.push_back({"rope_freqs.weight", {c.rope_dim / 2}});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    w.push_back({b + "attn_norm.weight", {c.d_model}});
    w.push_back({b + "attn_q.weight", {q_dim, c.d_model}});
    w.push_back({b + "attn_k.weight", {kv_dim, c.d_model}});
    w.push_back({b + "attn_v.weight", {kv_dim, c.d_model}});
    w.push_back({b + "attn_output.weight", {c.d_model, q_dim}});
    if (c.qkv_bias) {
      w.push_back({b + "attn_q.bias", {q_dim}});
      w.push_back({b + "attn_k.bias", {kv_dim}});
      w.push_back({b + "attn_v.bias", {kv_dim}});
    }
    w.push_back({b + "ffn_norm.weight", {c.d_model}});
    w.push_back({b + "ffn_gate.weight", {c.d_ff, c.d_model}});
    w.push_back({b + "ffn_up.weight", {c.d_ff, c.d_model}});
    w.push_back({b + "ffn_down.weight", {c.d_model, c.d_ff}});
  }
  return w;
}

// One weight: the GGUF tensor dequantised to float32, in PyTorch order (ggml's ne[0] is
// the last dimension), checked against the expected shape.
Status LoadTensor(const GgufFile& file, const std::string& name, const std::vector<int64_t>& shape,
                  torch::Device device, torch::Dtype dtype,
                  std::map<std::string, torch::Tensor>* out) {
  const GgufTensorInfo* t = file.FindTensor(name);
  if (t == nullptr) return Corrupt(file.path() + ": the model has no tensor '" + name + "'");
  const std::vector<int64_t> ggml_shape(shape.rbegin(), shape.rend());
  if (t->shape != ggml_shape) {
    return Corrupt(file.path() + ": tensor '" + name + "' has ggml shape " + ShapeText(t->shape) +
                   ", expected " + ShapeText(ggml_shape) + " from the model's hyper-parameters");
  }
  torch::Tensor w = torch::empty(shape, torch::kFloat32);
  EASEL_RETURN_IF_ERROR(Dequantize(t->type, t->data, t->nbytes, t->numel(), w.data_ptr<float>()));
  out->emplace(name, w.to(device, dtype));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromGguf(const GgufFile& file, torch::Device device,
                                                         torch::Dtype dtype) {
  Result<LlamaConfig> config = LlamaConfigFromGguf(file);
  if (!config.ok()) return config.status();
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->config_ = *config;
  m->device_ = device;
  m->dtype_ = dtype;
  for (const auto& [name, shape] : ExpectedWeights(m->config_)) {
    EASEL_RETURN_IF_ERROR(LoadTensor(file, name, shape, device, dtype, &m->weights_));
  }
  EASEL_RETURN_IF_ERROR(m->Finish(file.path()));
  return m;
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromWeights(
    const LlamaConfig& config, std::map<std::string, torch::Tensor> weights,
    const std::string& source, torch::Device device, torch::Dtype dtype) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->config_ = config;
  m->device_ = device;
  m->dtype_ = dtype;
  for (const auto& [name, shape] : ExpectedWeights(config)) {
    auto it = weights.find(name);
    if (it == weights.end())
      return Corrupt(source + ": the model has no weight for '" + name + "'");
    if (it->second.sizes().vec() != shape) {
      return Corrupt(source + ": weight '" + name + "' has shape " +
                     ShapeText(it->second.sizes().vec()) + ", expected " + ShapeText(shape) +
                     " from the model's config");
    }
    m->weights_.emplace(name, it->second.to(device, dtype));
    it->second = torch::Tensor();  // free the source copy early
  }
  EASEL_RETURN_IF_ERROR(m->Finish(source));
  return m;
}

Status LlamaModel::Finish(const std::string& /*source*/) {
  const LlamaConfig& c = config_;
  // inv_freq[j] = theta^(-2j / rope_dim), computed in float64 then rounded once (as
  // transformers computes it in float32 from an int64 arange: the same values to 1 ulp).
  std::vector<float> inv(static_cast<size_t>(c.rope_dim / 2));
  for (size_t j = 0; j < inv.size(); ++j) {
    inv[j] = static_cast<float>(
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * j) / static_cast<double>(c.rope_dim)));
  }
  inv_freq_ = torch::from_blob(inv.data(), {static_cast<int64_t>(inv.size())}, torch::kFloat32)
                  .clone()
                  .to(device_);
  if (c.rope_freqs) inv_freq_ = inv_freq_ / W("rope_freqs.weight").to(torch::kFloat32);
  return Status::Ok();
}

int64_t LlamaModel::weights_bytes() const {
  int64_t n = 0;
  for (const auto& [name, w] : weights_) n += w.numel() * static_cast<int64_t>(w.element_size());
  return n;
}

int64_t LlamaModel::CacheBytes(int64_t capacity) const {
  const int64_t elem = torch::elementSize(dtype_);
  return 2 * config_.n_layers * config_.n_kv_heads * capacity * config_.head_dim * elem;
}

Result<KvCache> LlamaModel::NewCache(int64_t capacity) const {
  const LlamaConfig& c = config_;
  if (capacity <= 0 || capacity > c.context_length) {
    return InvalidArgument("a KV cache of " + std::to_string(capacity) +
                           " positions: the model's context length is " +
                           std::to_string(c.context_length));
  }
  KvCache cache;
  cache.capacity = capacity;
  auto opts = torch::TensorOptions().dtype(dtype_).device(device_);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    cache.k.push_back(torch::zeros({c.n_kv_heads, capacity, c.head_dim}, opts));
    cache.v.push_back(torch::zeros({c.n_kv_heads, capacity, c.head_dim}, opts));
  }
  return cache;
}

// x: [T, H, head_dim]; cos/sin: [T, rope_dim / 2]. Rotates the first rope_dim dimensions.
torch::Tensor LlamaModel::Rope(const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin) const {
  const int64_t rd = config_.rope_dim;
  const torch::Tensor rot = x.narrow(-1, 0, rd);
  const torch::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [T, 1, rd/2]
  torch::Tensor out;
  if (config_.rope_style == RopeStyle::kAdjacentPairs) {
    const torch::Tensor pairs = rot.reshape({x.size(0), x.size(1), rd / 2, 2});
    const torch::Tensor x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);
    out = torch::stack({x0 * c - x1 * s, x0 * s + x1 * c}, -1).reshape({x.size(0), x.size(1), rd});
  } else {
    const torch::Tensor x0 = rot.narrow(-1, 0, rd / 2), x1 = rot.narrow(-1, rd / 2, rd / 2);
    out = torch::cat({x0 * c - x1 * s, x1 * c + x0 * s}, -1);
  }
  if (rd == x.size(-1)) return out;
  return torch::cat({out, x.narrow(-1, rd, x.size(-1) - rd)}, -1);
}

// h: [T, D] (normed) -> [T, D]; writes this step's keys/values at cache->length.
torch::Tensor LlamaModel::Attention(int64_t layer, const torch::Tensor& h, KvCache* cache,
                                    const torch::Tensor& cos, const torch::Tensor& sin) const {
  const LlamaConfig& c = config_;
  const std::string b = "blk." + std::to_string(layer) + ".";
  const int64_t T = h.size(0), start = cache->length;
  torch::Tensor q = Linear(h, W(b + "attn_q.weight"));
  torch::Tensor k = Linear(h, W(b + "attn_k.weight"));
  torch::Tensor v = Linear(h, W(b + "attn_v.weight"));
  if (c.qkv_bias) {
    q = q + W(b + "attn_q.bias");
    k = k + W(b + "attn_k.bias");
    v = v + W(b + "attn_v.bias");
  }
  q = Rope(q.view({T, c.n_heads, c.head_dim}), cos, sin);     // [T, H, hd]
  k = Rope(k.view({T, c.n_kv_heads, c.head_dim}), cos, sin);  // [T, KV, hd]
  v = v.view({T, c.n_kv_heads, c.head_dim});
  cache->k[static_cast<size_t>(layer)].narrow(1, start, T).copy_(k.transpose(0, 1));
  cache->v[static_cast<size_t>(layer)].narrow(1, start, T).copy_(v.transpose(0, 1));
  const int64_t S = start + T;
  const int64_t group = c.n_heads / c.n_kv_heads;
  // Grouped-query attention: each key/value head serves `group` query heads.
  const torch::Tensor keys = cache->k[static_cast<size_t>(layer)].narrow(1, 0, S).repeat_interleave(
      group, 0);  // [H, S, hd]
  const torch::Tensor values =
      cache->v[static_cast<size_t>(layer)].narrow(1, 0, S).repeat_interleave(group, 0);
  torch::Tensor scores = torch::matmul(q.transpose(0, 1), keys.transpose(1, 2)) /
                         std::sqrt(static_cast<double>(c.head_dim));  // [H, T, S]
  if (T > 1) {
    // Query i sits at position start + i and sees keys 0 .. start + i.
    const torch::Tensor mask = torch::ones({T, S}, torch::kBool).triu(start + 1).to(h.device());
    scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  }
  const torch::Tensor probs =
      scores.scalar_type() == torch::kFloat32
          ? torch::softmax(scores, -1)
          : torch::softmax(scores.to(torch::kFloat32), -1).to(scores.scalar_type());
  const torch::Tensor out = torch::matmul(probs, values);  // [H, T, hd]
  return Linear(out.transpose(0, 1).reshape({T, c.n_heads * c.head_dim}),
                W(b + "attn_output.weight"));
}

Result<torch::Tensor> LlamaModel::Forward(const std::vector<int32_t>& tokens, KvCache* cache,
                                          bool last_only) const {
  const LlamaConfig& c = config_;
  const auto T = static_cast<int64_t>(tokens.size());
  if (T == 0) return InvalidArgument("no tokens to run");
  if (cache->length + T > cache->capacity) {
    return InvalidArgument("the context is full: " + std::to_string(cache->length) + " + " +
                           std::to_string(T) + " tokens exceed the " +
                           std::to_string(cache->capacity) +
                           " positions of the cache; start a new conversation or shorten it");
  }
  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  for (int64_t id : ids) {
    if (id < 0 || id >= c.vocab_size) {
      return InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                             std::to_string(c.vocab_size));
    }
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor idx = torch::tensor(ids, torch::kInt64).to(device_);
  torch::Tensor x = W("token_embd.weight").index_select(0, idx);  // [T, D]
  // Angles of positions start..start+T-1: [T, rope_dim / 2].
  const torch::Tensor pos =
      torch::arange(cache->length, cache->length + T, torch::TensorOptions().dtype(torch::kFloat32))
          .to(device_);
  const torch::Tensor angles = torch::outer(pos, inv_freq_);
  const torch::Tensor cos = angles.cos().to(dtype_), sin = angles.sin().to(dtype_);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    x = x + Attention(l, RmsNorm(x, W(b + "attn_norm.weight"), c.rms_eps), cache, cos, sin);
    const torch::Tensor h = RmsNorm(x, W(b + "ffn_norm.weight"), c.rms_eps);
    x = x +
        Linear(torch::silu(Linear(h, W(b + "ffn_gate.weight"))) * Linear(h, W(b + "ffn_up.weight")),
               W(b + "ffn_down.weight"));
  }
  cache->length += T;
  if (last_only && T > 1) x = x.narrow(0, T - 1, 1);
  x = RmsNorm(x, W("output_norm.weight"), c.rms_eps);
  return Linear(x, W(c.tied_embeddings ? "token_embd.weight" : "output.weight"))
      .to(torch::kFloat32);
}

Result<std::vector<int32_t>> GreedyDecode(const LlamaModel& model,
                                          const std::vector<int32_t>& prompt, int n,
                                          KvCache* cache) {
  std::vector<int32_t> out;
  Result<torch::Tensor> logits = model.Forward(prompt, cache);
  for (int i = 0; i < n; ++i) {
    if (!logits.ok()) return logits.status();
    const auto next = static_cast<int32_t>((*logits)[-1].argmax().item<int64_t>());
    out.push_back(next);
    if (i + 1 < n) logits = model.Forward({next}, cache);
  }
  return out;
}

}  // namespace easel::llm

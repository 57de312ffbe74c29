// Llama-family hyper-parameters from GGUF metadata. See llama_config.h.
#include "llm/llama_config.h"

#include <cstdint>

namespace easel::llm {

Result<LlamaConfig> LlamaConfigFromGguf(const GgufFile& file) {
  LlamaConfig c;
  Result<std::string> arch = file.GetString("general.architecture");
  if (!arch.ok()) return arch.status();
  c.arch = *arch;
  if (c.arch == "llama" || c.arch == "mistral") {
    c.rope_style = RopeStyle::kAdjacentPairs;
  } else if (c.arch == "qwen2") {
    c.rope_style = RopeStyle::kHalves;
    c.qkv_bias = true;
  } else {
    return Unsupported(file.path() + ": the architecture '" + c.arch +
                       "' is not one Easel runs (llama, mistral, qwen2)");
  }
  const std::string p = c.arch + ".";
  auto get = [&](const std::string& key, int64_t* out, bool required) -> Status {
    if (!required && file.Find(p + key) == nullptr) return Status::Ok();
    Result<int64_t> v = file.GetInt(p + key);
    if (!v.ok()) return v.status();
    if (*v <= 0 || *v > (int64_t{1} << 32)) {
      return Corrupt(file.path() + ": " + p + key + " is " + std::to_string(*v) +
                     ", expected a positive count");
    }
    *out = *v;
    return Status::Ok();
  };
  EASEL_RETURN_IF_ERROR(get("block_count", &c.n_layers, true));
  EASEL_RETURN_IF_ERROR(get("embedding_length", &c.d_model, true));
  EASEL_RETURN_IF_ERROR(get("feed_forward_length", &c.d_ff, true));
  EASEL_RETURN_IF_ERROR(get("attention.head_count", &c.n_heads, true));
  c.n_kv_heads = c.n_heads;
  EASEL_RETURN_IF_ERROR(get("attention.head_count_kv", &c.n_kv_heads, false));
  c.context_length = 2048;
  EASEL_RETURN_IF_ERROR(get("context_length", &c.context_length, false));
  if (c.d_model % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0) {
    return Corrupt(file.path() + ": " + std::to_string(c.n_heads) + " heads (" +
                   std::to_string(c.n_kv_heads) +
                   " for keys/values) do not divide an embedding of " + std::to_string(c.d_model));
  }
  c.head_dim = c.d_model / c.n_heads;
  EASEL_RETURN_IF_ERROR(get("attention.key_length", &c.head_dim, false));
  c.rope_dim = c.head_dim;
  EASEL_RETURN_IF_ERROR(get("rope.dimension_count", &c.rope_dim, false));
  if (c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return Corrupt(file.path() + ": rope.dimension_count " + std::to_string(c.rope_dim) +
                   " does not fit a head of " + std::to_string(c.head_dim));
  }
  if (file.Find(p + "rope.freq_base") != nullptr) {
    Result<double> theta = file.GetFloat(p + "rope.freq_base");
    if (!theta.ok()) return theta.status();
    c.rope_theta = *theta;
  }
  Result<double> eps = file.GetFloat(p + "attention.layer_norm_rms_epsilon");
  if (!eps.ok()) return eps.status();
  c.rms_eps = *eps;
  if (file.Find(p + "rope.scaling.type") != nullptr) {
    Result<std::string> scaling = file.GetString(p + "rope.scaling.type");
    if (!scaling.ok()) return scaling.status();
    if (*scaling != "none") {
      return Unsupported(file.path() + ": rope scaling '" + *scaling + "' is not supported yet");
    }
  }
  const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) {
    return Corrupt(file.path() + ": token_embd.weight is missing or not 2-D");
  }
  c.vocab_size = embd->shape[1];
  c.tied_embeddings = file.FindTensor("output.weight") == nullptr;
  c.rope_freqs = file.FindTensor("rope_freqs.weight") != nullptr;
  return c;
}

}  // namespace easel::llm

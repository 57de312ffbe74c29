// A Llama-family decoder on libtorch (Llama 2/3, Mistral, Qwen2, SmolLM2) with its weights
// dequantised from a GGUF file: RMSNorm, RoPE (the file's theta, dimensions and pairing),
// grouped-query attention over a KV cache, SwiGLU feed-forward, tied or separate output.
//
// The forward pass is written as functions over named weight tensors (the GGUF names:
// blk.N.attn_q.weight ...), in the model's dtype (float32 by default; float16/bfloat16 on
// CUDA, with RMSNorm and softmax computed in float32 as transformers does); the reference is
// transformers' LlamaForCausalLM / Qwen2ForCausalLM loading the same GGUF
// (tests/unit/engine/llm_llama_test.cpp). Hugging Face safetensors weights come in through
// FromWeights with their names mapped to the GGUF ones (llm/torch/hf_model.h).
//
// Thread-safety: a LlamaModel is immutable after loading; Forward may run from several
// threads, each with its own KvCache.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llm/gguf.h"
#include "llm/llama_config.h"
#include "util/status.h"

namespace easel::llm {

// Keys and values of every layer for one sequence: k[l], v[l]: [n_kv_heads, capacity, head_dim],
// in the model's dtype.
struct KvCache {
  std::vector<torch::Tensor> k, v;
  int64_t length = 0;    // positions filled
  int64_t capacity = 0;  // positions allocated
  void Clear() { length = 0; }
};

class LlamaModel {
 public:
  // Dequantises every weight onto `device`. kCorrupt names a missing or misshapen tensor.
  static Result<std::unique_ptr<LlamaModel>> FromGguf(const GgufFile& file,
                                                      torch::Device device = torch::kCPU,
                                                      torch::Dtype dtype = torch::kFloat32);
  // From weights already in PyTorch layout under the GGUF names (any float dtype, any
  // device: they are moved to `device` and `dtype`). kCorrupt names a missing or misshapen
  // tensor; `source` stands for the model in messages.
  static Result<std::unique_ptr<LlamaModel>> FromWeights(
      const LlamaConfig& config, std::map<std::string, torch::Tensor> weights,
      const std::string& source, torch::Device device = torch::kCPU,
      torch::Dtype dtype = torch::kFloat32);

  const LlamaConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::Dtype dtype() const { return dtype_; }
  int64_t weights_bytes() const;
  // Bytes of a cache of `capacity` positions.
  int64_t CacheBytes(int64_t capacity) const;
  // A cache for up to `capacity` positions (at most the model's context length).
  Result<KvCache> NewCache(int64_t capacity) const;

  // Runs `tokens` at positions cache->length.. and appends their keys/values to the cache.
  // Returns the logits of every position: [T, vocab], float32 (last_only: of the last
  // position only, [1, vocab], which spares the output projection of a long prefill).
  // kInvalidArgument when the tokens would overflow the cache or an id is outside the vocabulary.
  Result<torch::Tensor> Forward(const std::vector<int32_t>& tokens, KvCache* cache,
                                bool last_only = false) const;

 private:
  LlamaModel() = default;
  Status Finish(const std::string& source);  // checks shapes, builds inv_freq_
  const torch::Tensor& W(const std::string& name) const { return weights_.at(name); }
  torch::Tensor Attention(int64_t layer, const torch::Tensor& h, KvCache* cache,
                          const torch::Tensor& cos, const torch::Tensor& sin) const;
  torch::Tensor Rope(const torch::Tensor& x, const torch::Tensor& cos,
                     const torch::Tensor& sin) const;

  LlamaConfig config_;
  torch::Device device_ = torch::kCPU;
  torch::Dtype dtype_ = torch::kFloat32;
  std::map<std::string, torch::Tensor> weights_;
  torch::Tensor inv_freq_;  // [rope_dim / 2]
};

// Greedy decoding: prefills `prompt` (one batched forward), then appends `n` argmax tokens.
Result<std::vector<int32_t>> GreedyDecode(const LlamaModel& model,
                                          const std::vector<int32_t>& prompt, int n,
                                          KvCache* cache);

}  // namespace easel::llm

// Hyper-parameters of a Llama-family decoder (Llama 2/3, Mistral, Qwen2, SmolLM2) read from
// a GGUF file's `<arch>.*` metadata, and the tensor names the model needs.
//
// Torch-free: the libtorch model (llm/torch/llama_model.h) builds from this. Validation
// here covers the numbers (positive, heads dividing evenly); tensor shapes are checked when
// the weights are loaded.
//
// Values: safe to copy and share.
#pragma once

#include <cstdint>
#include <string>

#include "llm/gguf.h"
#include "util/status.h"

namespace easel::llm {

// How RoPE pairs the dimensions of a head. GGUF `llama` files store Q and K permuted for
// llama.cpp's rotation of adjacent pairs (x0,x1),(x2,x3)...; `qwen2` files keep Hugging Face's
// order, which rotates dimension i with i + d/2 ("NeoX" style).
enum class RopeStyle { kAdjacentPairs, kHalves };

struct LlamaConfig {
  std::string arch;  // general.architecture: "llama", "qwen2", ...
  int64_t n_layers = 0;
  int64_t d_model = 0;
  int64_t d_ff = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  double rope_theta = 10000.0;
  int64_t rope_dim = 0;  // dimensions rotated per head (the first rope_dim)
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
  double rms_eps = 1e-5;
  bool qkv_bias = false;         // qwen2: q/k/v projections have biases
  bool tied_embeddings = false;  // no output.weight: the logits use token_embd.weight
  bool rope_freqs = false;       // a rope_freqs.weight tensor divides the frequencies (3.1+)
};

// kUnsupported for architectures outside the Llama family (naming the ones supported) and
// for rope scaling other than none/rope_freqs; kCorrupt for missing or inconsistent numbers.
Result<LlamaConfig> LlamaConfigFromGguf(const GgufFile& file);

}  // namespace easel::llm

// Hugging Face model folders for the built-in runtime: config.json (model_type llama,
// mistral or qwen2), model.safetensors / model-0000N-of-0000M.safetensors (with or without
// model.safetensors.index.json), tokenizer.json (byte-level BPE) and tokenizer_config.json
// (chat_template, eos_token) or chat_template.jinja.
//
// Weights are renamed to the GGUF layout LlamaModel uses (model.layers.N.self_attn.q_proj
// -> blk.N.attn_q, ...). Hugging Face keeps Q and K unpermuted, so RoPE rotates halves
// (RopeStyle::kHalves) for every architecture here.
//
// Thread-safety: free functions; safe from any thread.
#pragma once

#include <torch/types.h>

#include <string>

#include "llm/llama_config.h"
#include "llm/torch/llm_loader.h"
#include "util/status.h"

namespace easel::llm {

// The hyper-parameters in a config.json text. kUnsupported for other model types or rope
// scaling; kCorrupt for missing or inconsistent numbers. `name` is used in messages.
Result<LlamaConfig> LlamaConfigFromHfJson(const std::string& config_text, const std::string& name);

// The HF weight name's GGUF name ("model.layers.3.mlp.up_proj.weight" -> "blk.3.ffn_up.weight"),
// or "" for names the model does not use (rotary_emb.inv_freq ...).
std::string GgufNameOfHf(const std::string& hf_name);

Result<LoadedLlm> LoadHfFolder(const std::string& dir, torch::Device device, torch::Dtype dtype);

}  // namespace easel::llm

// Everything the built-in runtime needs to run one model, loaded from a GGUF file or a Hugging
// Face folder: the libtorch decoder, the tokenizer, the chat format and the tokens that end
// a reply.
//
// Ownership: LoadedLlm owns its model; the tokenizer is shared (immutable).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llm/builtin_options.h"
#include "llm/chat_template.h"
#include "llm/tokenizer.h"
#include "llm/torch/llama_model.h"
#include "util/status.h"

namespace easel::llm {

struct LoadedLlm {
  std::unique_ptr<LlamaModel> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  ChatTemplate chat_template;
  std::vector<int32_t> end_ids;  // eos and end-of-turn tokens: generation stops at any
  std::string name;              // the file or folder name, for messages and Info()
};

// The device and dtype BuiltinOptions name ("auto": bfloat16 on CUDA, float32 on CPU).
// kInvalidArgument for an unknown name; kUnsupported for CUDA in a CPU-only libtorch.
Result<torch::Device> ParseLlmDevice(const std::string& device);
Result<torch::Dtype> ParseLlmDtype(const std::string& dtype, torch::Device device);

// Loads `options.model_path`: a .gguf file, or a folder with config.json (llm/torch/hf_model.h).
Result<LoadedLlm> LoadLlm(const BuiltinOptions& options);

// The end-of-reply tokens of a tokenizer: its eos and the end-of-turn tokens that exist in
// its vocabulary (<|im_end|>, <|eot_id|>, <|end_of_text|>, <|endoftext|>, </s>).
std::vector<int32_t> EndTokens(const Tokenizer& tok);

}  // namespace easel::llm

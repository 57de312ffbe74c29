// How to open the built-in language-model runtime: which model, on which device, in which
// dtype, with how long a context. Torch-free, so the server and the CLI can name it without
// libtorch; llm/torch/builtin_backend.h takes it.
//
// Values: safe to copy.
#pragma once

#include <cstdint>
#include <string>

namespace easel::llm {

struct BuiltinOptions {
  // A GGUF file or a Hugging Face folder (config.json, model*.safetensors, tokenizer.json).
  std::string model_path;
  std::string device = "cpu";  // "cpu", "cuda", "cuda:1"
  // "auto" (bfloat16 on CUDA: float16 overflows in some Qwen2 layers; float32 on CPU),
  // "float32", "float16", "bfloat16".
  std::string dtype = "auto";
  int64_t context = 0;  // 0: the model's context length, capped at 8192
};

}  // namespace easel::llm

// OllamaBackend: a ChatBackend over Ollama's native API: POST {base_url}/api/chat with
// stream: true answers newline-delimited JSON objects,
//   {"message": {"role": "assistant", "content": "..", "tool_calls": [{"function": {"name",
//     "arguments": {..}}}]}, "done": false}
//   ... {"done": true, "done_reason": "stop"|"length", "prompt_eval_count", "eval_count",
//        "prompt_eval_duration", "eval_duration" (nanoseconds)}
// or {"error": "..."}. Sampling travels in "options" (temperature, top_k, top_p, min_p,
// repeat_penalty, seed, num_predict, stop, num_ctx); a JSON schema in "format"; tools in the
// OpenAI shape; tool results as {"role": "tool", "content", "tool_name"}.
//
// Unload(hard) asks Ollama to drop the model now (POST /api/generate {model, keep_alive: 0});
// Unload(soft) does nothing (Ollama keeps no cache we could drop alone).
// Errors and thread-safety: as OpenAiBackend (openai_backend.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::llm {

struct OllamaOptions {
  std::string base_url = "http://127.0.0.1:11434";  // without "/api"
  std::string model;                                // required: "llama3.2", "qwen2.5:7b" ...
  int64_t num_ctx = 0;                              // 0: Ollama's default
  std::string keep_alive;                           // "" : Ollama's default ("5m")
  int connect_timeout_s = 10;
  int read_timeout_s = 300;
};

// Checks the URL and that a model is named (kInvalidArgument); does not connect.
Result<std::unique_ptr<ChatBackend>> OpenOllamaBackend(const OllamaOptions& options);

}  // namespace easel::llm

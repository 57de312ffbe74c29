// The one interface every language-model backend answers: the built-in runtime (in this
// process, or in an `easel worker llm` process reached over IPC) and the external ones
// (an OpenAI-compatible server such as llama.cpp / LM Studio / vLLM, or Ollama).
//
// Callers (the CLI's `easel chat` / `easel enhance`, the assistant loop, the server's
// /v1/chat/completions) build a ChatRequest and get text back as it is generated through
// `on_delta`; the call returns the whole ChatResult when generation ends.
//
// Tool calls: the request lists the tools; a backend that decodes them itself (external
// servers with native tool calling) fills ChatResult::tool_calls; the built-in runtime
// decodes a tool call as JSON constrained to ToolCallSchema(tools) (see tool_calls.h) when
// the caller asks for it with `tool_choice = kRequired`, or lets the model answer in text.
//
// Thread-safety: a ChatBackend serves one Chat() at a time (callers serialise); Cancel() and
// Unload() may be called from another thread while Chat() runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::llm {

// One call the model asks for: the tool's name and its arguments as a JSON object text.
struct ToolCall {
  std::string id;              // "call_<n>" when the backend gives none
  std::string name;            // a name from ChatRequest::tools
  std::string arguments_json;  // a JSON object, already validated against the tool's schema
};

struct Message {
  std::string role;  // "system" | "user" | "assistant" | "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // role "assistant": the calls it made
  std::string tool_call_id;          // role "tool": which call this answers
  std::string name;                  // role "tool": the tool's name
};

struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters_schema_json;  // a JSON schema object (the subset json_schema.h reads)
};

enum class ToolChoice { kNone, kAuto, kRequired };

struct ChatRequest {
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice = ToolChoice::kAuto;
  // When set, the reply is one JSON document valid against this schema (constrained
  // decoding in the built-in runtime; `response_format: json_schema` for external ones).
  std::optional<std::string> json_schema;
  // Sampling: temperature <= 0 is greedy.
  float temperature = 0.7f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  uint64_t seed = 0;
  int max_tokens = 512;
  std::vector<std::string> stop;
};

struct ChatUsage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

struct ChatResult {
  std::string content;               // the text reply (empty when only tool calls)
  std::vector<ToolCall> tool_calls;  // non-empty: the model asks for these
  std::string finish_reason;         // "stop" | "length" | "tool_calls" | "cancelled"
  ChatUsage usage;
};

// What a backend says about itself (for /v1/models, the status bar, memory decisions).
struct BackendInfo {
  std::string kind;   // "builtin" | "worker" | "openai" | "ollama"
  std::string model;  // model name or path
  int64_t context_length = 0;
  int64_t weights_bytes = 0;   // resident weights (0 when unknown / external)
  int64_t kv_cache_bytes = 0;  // resident KV cache
  bool loaded = false;
};

// Called with each piece of text as it becomes safe to show; return false to stop.
using DeltaFn = std::function<bool(std::string_view delta)>;

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // kInvalidArgument when the prompt does not fit the context (the message says how many
  // tokens it has and the limit); kUnsupported for a feature the backend lacks; kIo when an
  // external server cannot be reached (the message names the URL); kCancelled after Cancel().
  virtual Result<ChatResult> Chat(const ChatRequest& request, const DeltaFn& on_delta) = 0;
  // Asks a running Chat() to stop soon; it returns what it had with finish_reason
  // "cancelled".
  virtual void Cancel() = 0;
  // Frees memory: soft drops the KV cache, hard frees everything (a later Chat() reloads).
  virtual Status Unload(bool hard) = 0;
  virtual BackendInfo Info() const = 0;
};

}  // namespace easel::llm

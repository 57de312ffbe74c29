// ChatRequest / ChatResult (llm/chat_backend.h) to and from JSON in the OpenAI chat shapes:
// what /v1/chat/completions receives, what the `easel worker llm` protocol carries
// (llm/llm_worker_protocol.h) and what the assistant stores.
//
// Request (all but `messages` optional):
//   {messages: [{role, content, tool_calls: [{id, type: "function", function: {name,
//                arguments}}], tool_call_id, name}],
//    tools: [{type: "function", function: {name, description, parameters}}],
//    tool_choice: "none" | "auto" | "required" | {type: "function", function: {name}},
//    response_format: {type: "json_schema", json_schema: {name?, schema}} | {type: "text"},
//    temperature, top_p, max_tokens (or max_completion_tokens), stop (string or strings),
//    seed, and the extensions top_k, min_p, repeat_penalty (or repetition_penalty)}
// `content` may be a string, null, or an array of {type: "text", text} parts (joined).
// `arguments` may be a JSON text (OpenAI) or an object. A tool_choice naming one function
// keeps only that tool and makes the call required. response_format json_object is
// kUnsupported (the schema subset cannot say "any object"; send a json_schema instead).
// Keys this code does not know (model, stream, n, user ...) are ignored: the caller reads
// them itself.
//
// Result: {content, tool_calls: [...as above], finish_reason, usage: {prompt_tokens,
// completion_tokens, prefill_seconds, decode_seconds}}.
//
// Errors are kInvalidArgument naming the path and what was expected
// ("messages[1].role: expected \"system\", \"user\", \"assistant\" or \"tool\", got \"bot\"").
//
// Schemas travel as JSON objects; nlohmann::json sorts object keys, so a schema that went
// through nlohmann::json lists its properties alphabetically (the order generation follows).
// ChatRequestFromJsonText parses with the order kept.
//
// Pure functions: safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::llm {

nlohmann::json ToJson(const ChatRequest& request);
Result<ChatRequest> ChatRequestFromJson(const nlohmann::json& j);
// The same from JSON text, keeping the order of schema properties.
Result<ChatRequest> ChatRequestFromJsonText(std::string_view text);

nlohmann::json ToJson(const ChatResult& result);
Result<ChatResult> ChatResultFromJson(const nlohmann::json& j);

// The pieces, for the assistant's history and the server's response bodies.
nlohmann::json ToJson(const Message& message);
Result<Message> MessageFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const ToolCall& call);  // {id, type: "function", function: {...}}
Result<ToolCall> ToolCallFromJson(const nlohmann::json& j);
const char* ToolChoiceName(ToolChoice c);  // "none" | "auto" | "required"

}  // namespace easel::llm

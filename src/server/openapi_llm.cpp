// The OpenAPI entries of the language-model and assistant routes (api_chat.cpp,
// api_assistant.cpp), added to the native document by openapi.cpp.
#include "server/api_llm.h"

namespace easel::server {
namespace {

using json = nlohmann::json;

json Obj(json properties, json required = json::array()) {
  return {
      {"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

json Body(const json& schema) {
  return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Op(const std::string& summary, const json& responses, const json& body = nullptr) {
  json op = {{"summary", summary}, {"responses", responses}};
  op["responses"]["400"] = {{"description", "Malformed input (the message names the field)"}};
  op["responses"]["503"] = {{"description", "No language model is configured (--llm)"}};
  if (!body.is_null()) op["requestBody"] = Body(body);
  return op;
}

json Ok(const std::string& d, const std::string& type = "application/json") {
  return {{"description", d},
          {"content",
           {{type, {{"schema", {{"type", type == "application/json" ? "object" : "string"}}}}}}}};
}

json SessionParam() {
  return {{"name", "id"},
          {"in", "path"},
          {"required", true},
          {"description", "A session id (s_ and 16 hex digits)"},
          {"schema", {{"type", "string"}, {"pattern", "^[A-Za-z0-9_-]{1,64}$"}}}};
}

}  // namespace

void AddLlmPaths(json* paths) {
  const json str = {{"type", "string"}};
  json& p = *paths;
  p["/v1/chat/completions"] = {
      {"post",
       Op("OpenAI-compatible chat completion with the server's language model: messages, tools, "
          "tool_choice, stream (SSE chunks, then data: [DONE]), temperature, top_p, max_tokens, "
          "stop, seed, response_format json_schema; errors in OpenAI's shape",
          {{"200", Ok("chat.completion, or text/event-stream of chat.completion.chunk")}},
          Obj({{"messages", {{"type", "array"}, {"items", {{"type", "object"}}}}},
               {"tools", {{"type", "array"}, {"items", {{"type", "object"}}}}},
               {"stream", {{"type", "boolean"}}}},
              {"messages"}))}};
  p["/api/v1/llm/status"] = {
      {"get", Op("The language model: kind, model, loaded, context, memory, idle unload and the "
                 "last memory decision (soft_unload, hard_unload, load, idle_unload, keep)",
                 {{"200", Ok("LLM status")}})}};
  p["/api/v1/llm/enhance"] = {{"post", Op("Rewrite a short prompt into a descriptive one",
                                          {{"200", Ok("{prompt, original}")}},
                                          Obj({{"prompt", str}, {"style", str}}, {"prompt"}))}};
  p["/api/v1/llm/analyse"] = {
      {"post", Op("Analyse a prompt (style, content, concepts); source says llm or keywords",
                  {{"200", Ok("{analysis, source}")}}, Obj({{"prompt", str}}, {"prompt"}))}};
  p["/api/v1/assistant/sessions"] = {
      {"get", Op("Assistant sessions, newest first", {{"200", Ok("{sessions}")}})},
      {"post",
       Op("Start a session", {{"201", Ok("{id, title, created_at}")}}, Obj({{"title", str}}))}};
  p["/api/v1/assistant/sessions/{id}"] = {
      {"parameters", {SessionParam()}},
      {"get", Op("A session with its messages (OpenAI shape) and pending confirmations",
                 {{"200", Ok("{id, title, messages, pending_confirmations}")},
                  {"404", {{"description", "No such session"}}}})},
      {"delete", Op("Delete a session and its messages", {{"204", {{"description", "Deleted"}}}})}};
  p["/api/v1/assistant/sessions/{id}/messages"] = {
      {"parameters", {SessionParam()}},
      {"post",
       Op("Send a message; the reply streams as Server-Sent Events: delta {text}, tool_call {id, "
          "name, arguments}, tool_result {id, name, result}, set_params {params}, confirm {id, "
          "name, arguments}, done {message, finish_reason}, error {code, message}. tool_choice "
          "may name one tool the first step must call",
          {{"200", Ok("text/event-stream", "text/event-stream")}},
          Obj({{"content", str}, {"tool_choice", str}, {"seed", {{"type", "integer"}}}},
              {"content"}))}};
  p["/api/v1/assistant/sessions/{id}/confirm"] = {
      {"parameters", {SessionParam()}},
      {"post",
       Op("Approve (queues the generation as a job) or decline a queue_generation call",
          {{"200", Ok("{job_id?, result}")}, {"409", {{"description", "Decided already"}}}},
          Obj({{"call_id", str}, {"approve", {{"type", "boolean"}}}}, {"call_id", "approve"}))}};
}

}  // namespace easel::server

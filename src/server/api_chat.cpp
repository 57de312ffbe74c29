// The OpenAI-compatible chat API: POST /v1/chat/completions, streaming (SSE chunks ending in
// `data: [DONE]`) or not, with tools and JSON-schema response formats, served by the server's
// language model (LlmManager). Request parsing is llm/chat_json.h's; "model" is echoed (the
// server has one language model), "n" must be 1.
#include <ctime>

#include "llm/chat_json.h"
#include "server/api_llm.h"
#include "server/errors.h"
#include "store/ids.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

constexpr ApiStyle kStyle = ApiStyle::kOpenAI;

Response NoModel() {
  return ErrorResponse(kStyle, 503, "llm_not_configured",
                       "no language model is configured: start the server with --llm "
                       "PATH.gguf (or --llm http://host:port/v1 for an external server)");
}

// The param an error message names ("messages[1].role: ..." -> "messages").
std::string ParamOf(const std::string& message) {
  const size_t end = message.find_first_of(".[:");
  return end == std::string::npos ? std::string() : message.substr(0, end);
}

json CallsJson(const std::vector<llm::ToolCall>& calls) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = llm::ToJson(calls[i]);
    c["index"] = i;
    out.push_back(std::move(c));
  }
  return out;
}

json UsageJson(const llm::ChatUsage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

Response Completions(LlmContext& ctx, const Request& req) {
  if (ctx.llm == nullptr) return NoModel();
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object())
    return ErrorResponse(kStyle, 400, "invalid_argument",
                         "the body must be a JSON object with \"messages\"");
  if (body.contains("n") && body["n"] != 1)
    return ErrorResponse(kStyle, 400, "unsupported_value", "only n = 1 is supported", "n");
  auto parsed = llm::ChatRequestFromJsonText(req.body);
  if (!parsed.ok())
    return ErrorResponse(kStyle, parsed.status(), ParamOf(parsed.status().message()));
  const llm::ChatRequest request = std::move(*parsed);
  const bool stream = body.value("stream", false);
  bool include_usage = false;
  if (body.contains("stream_options") && body["stream_options"].is_object())
    include_usage = body["stream_options"].value("include_usage", false);
  const std::string id = "chatcmpl-" + store::NewId("").substr(0, 16);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string model = ctx.llm->ModelName();
  LlmManager* llm = ctx.llm;

  if (!stream) {
    llm::ChatResult result;
    Status st = llm->Use([&](llm::ChatBackend& b) {
      auto r = b.Chat(request, nullptr);
      if (!r.ok()) return r.status();
      result = std::move(*r);
      return Status::Ok();
    });
    if (!st.ok()) return ErrorResponse(kStyle, st);
    json message = {
        {"role", "assistant"},
        {"content", result.tool_calls.empty() || !result.content.empty() ? json(result.content)
                                                                         : json(nullptr)}};
    if (!result.tool_calls.empty()) message["tool_calls"] = CallsJson(result.tool_calls);
    return Response::Json(
        200, {{"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", model},
              {"choices",
               {{{"index", 0}, {"message", message}, {"finish_reason", result.finish_reason}}}},
              {"usage", UsageJson(result.usage)}});
  }

  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.stream = [llm, request, id, created, model, include_usage](const http::StreamWriter& write) {
    auto chunk = [&](const json& delta, const json& finish) {
      json c = {{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}};
      return write("data: " + c.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n");
    };
    if (!chunk({{"role", "assistant"}, {"content", ""}}, nullptr)) return;
    bool client_gone = false;
    llm::ChatResult result;
    Status st = llm->Use([&](llm::ChatBackend& b) {
      auto res = b.Chat(request, [&](std::string_view text) {
        if (client_gone) return false;
        if (!chunk({{"content", text}}, nullptr)) client_gone = true;
        return !client_gone;
      });
      if (!res.ok()) return res.status();
      result = std::move(*res);
      return Status::Ok();
    });
    if (client_gone) return;
    if (!st.ok()) {
      const http::Response e = ErrorResponse(kStyle, st);
      write("data: " + e.body + "\n\n");
      write("data: [DONE]\n\n");
      return;
    }
    if (!result.tool_calls.empty() &&
        !chunk({{"tool_calls", CallsJson(result.tool_calls)}}, nullptr))
      return;
    if (!chunk(json::object(), result.finish_reason)) return;
    if (include_usage) {
      json u = {{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"choices", json::array()},
                {"usage", UsageJson(result.usage)}};
      if (!write("data: " + u.dump() + "\n\n")) return;
    }
    write("data: [DONE]\n\n");
  };
  return r;
}

}  // namespace

void AddChatRoutes(http::Router& router, LlmContext& ctx) {
  LlmContext* c = &ctx;
  router.Post("/v1/chat/completions", [c](const Request& req) { return Completions(*c, req); });
}

}  // namespace easel::server

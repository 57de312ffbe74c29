// OllamaBackend: Ollama's /api/chat with NDJSON streaming (see ollama_backend.h).
#include "llm/backends/ollama_backend.h"

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "llm/backends/http_stream.h"

namespace easel::llm {
namespace {

using json = nlohmann::json;

json SchemaJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

std::string ErrorText(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"];
  return body.substr(0, 300);
}

class OllamaBackend final : public ChatBackend {
 public:
  OllamaBackend(OllamaOptions options, HttpEndpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)) {}

  json Body(const ChatRequest& r) const {
    json messages = json::array();
    for (const Message& m : r.messages) {
      json j = {{"role", m.role}, {"content", m.content}};
      if (!m.tool_calls.empty()) {
        j["tool_calls"] = json::array();
        for (const ToolCall& c : m.tool_calls) {
          json args = json::parse(c.arguments_json, nullptr, false);
          if (args.is_discarded()) args = json::object();
          j["tool_calls"].push_back({{"function", {{"name", c.name}, {"arguments", args}}}});
        }
      }
      if (m.role == "tool" && !m.name.empty()) j["tool_name"] = m.name;
      messages.push_back(std::move(j));
    }
    json body = {{"model", options_.model}, {"messages", messages}, {"stream", true}};
    if (!r.tools.empty() && r.tool_choice != ToolChoice::kNone) {
      body["tools"] = json::array();
      for (const ToolSpec& t : r.tools)
        body["tools"].push_back({{"type", "function"},
                                 {"function",
                                  {{"name", t.name},
                                   {"description", t.description},
                                   {"parameters", SchemaJson(t.parameters_schema_json)}}}});
    }
    if (r.json_schema) body["format"] = SchemaJson(*r.json_schema);
    json opts = {{"temperature", r.temperature < 0 ? 0.0f : r.temperature},
                 {"top_k", r.top_k},
                 {"top_p", r.top_p},
                 {"min_p", r.min_p},
                 {"repeat_penalty", r.repeat_penalty},
                 {"seed", r.seed},
                 {"num_predict", r.max_tokens}};
    if (!r.stop.empty()) opts["stop"] = r.stop;
    if (options_.num_ctx > 0) opts["num_ctx"] = options_.num_ctx;
    body["options"] = opts;
    if (!options_.keep_alive.empty()) body["keep_alive"] = options_.keep_alive;
    return body;
  }

  Result<ChatResult> Chat(const ChatRequest& request, const DeltaFn& on_delta) override {
    cancel_ = false;
    const json body = Body(request);
    ChatResult result;
    Status stream_error;
    bool stopped = false;
    int n_calls = 0;
    auto on_line = [&](const std::string& line) -> bool {
      if (line.empty()) return true;
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) {
        stream_error = IoError("Ollama at " + endpoint_.origin +
                               " sent a line that is not JSON: " + line.substr(0, 120));
        return false;
      }
      if (j.contains("error")) {
        stream_error = IoError("Ollama at " + endpoint_.origin + " failed: " + ErrorText(line));
        return false;
      }
      const json msg = j.value("message", json::object());
      if (msg.is_object()) {
        if (msg.contains("content") && msg["content"].is_string()) {
          const std::string text = msg["content"];
          if (!text.empty()) {
            result.content += text;
            if (on_delta && !on_delta(text)) {
              stopped = true;
              return false;
            }
          }
        }
        for (const json& tc : msg.value("tool_calls", json::array())) {
          const json fn = tc.is_object() ? tc.value("function", json::object()) : json();
          if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string()) continue;
          ToolCall c;
          c.id = tc.contains("id") && tc["id"].is_string() ? tc["id"].get<std::string>()
                                                           : "call_" + std::to_string(n_calls);
          ++n_calls;
          c.name = fn["name"];
          json args = fn.value("arguments", json::object());
          if (args.is_string()) args = json::parse(args.get<std::string>(), nullptr, false);
          if (!args.is_object()) {
            stream_error = InvalidArgument("Ollama called the tool '" + c.name +
                                           "' with arguments that are not a JSON object");
            return false;
          }
          c.arguments_json = args.dump();
          result.tool_calls.push_back(std::move(c));
        }
      }
      if (j.value("done", false)) {
        result.finish_reason = j.value("done_reason", "stop");
        result.usage.prompt_tokens = j.value("prompt_eval_count", 0);
        result.usage.completion_tokens = j.value("eval_count", 0);
        result.usage.prefill_seconds = j.value("prompt_eval_duration", 0.0) / 1e9;
        result.usage.decode_seconds = j.value("eval_duration", 0.0) / 1e9;
        return false;
      }
      return true;
    };
    LineSplitter lines;
    HttpCall call;
    call.connect_timeout_s = options_.connect_timeout_s;
    call.read_timeout_s = options_.read_timeout_s;
    call.cancel = &cancel_;
    auto answer = PostJsonStreaming(endpoint_, "/api/chat",
                                    body.dump(-1, ' ', false, json::error_handler_t::replace), call,
                                    [&](std::string_view b) { return lines.Feed(b, on_line); });
    if (!answer.ok()) {
      if (answer.status().code() == Code::kCancelled && !result.content.empty()) {
        result.finish_reason = "cancelled";
        return result;
      }
      return answer.status();
    }
    if (answer->status < 200 || answer->status >= 300) {
      const std::string what = "Ollama at " + endpoint_.origin + " answered HTTP " +
                               std::to_string(answer->status) + ": " + ErrorText(answer->body);
      if (answer->status == 404)
        return NotFound(what + " (pull the model first: ollama pull " + options_.model + ")");
      if (answer->status < 500) return InvalidArgument(what);
      return IoError(what);
    }
    if (!stream_error.ok()) return stream_error;
    const std::string rest = lines.Rest();
    if (!rest.empty() && result.finish_reason.empty()) on_line(rest);
    if (!stream_error.ok()) return stream_error;
    {
      std::lock_guard<std::mutex> lock(mu_);
      loaded_ = true;
    }
    if (stopped || cancel_) result.finish_reason = "cancelled";
    if (!result.tool_calls.empty() && result.finish_reason != "cancelled")
      result.finish_reason = "tool_calls";
    if (result.finish_reason.empty()) result.finish_reason = "stop";
    return result;
  }

  void Cancel() override { cancel_ = true; }

  Status Unload(bool hard) override {
    if (!hard) return Status::Ok();
    HttpCall call;
    call.connect_timeout_s = options_.connect_timeout_s;
    call.read_timeout_s = 60;
    const json body = {{"model", options_.model}, {"keep_alive", 0}};
    auto answer = PostJsonStreaming(endpoint_, "/api/generate", body.dump(), call,
                                    [](std::string_view) { return true; });
    if (!answer.ok()) return answer.status();
    if (answer->status < 200 || answer->status >= 300)
      return IoError("Ollama at " + endpoint_.origin + " refused to unload " + options_.model +
                     ": HTTP " + std::to_string(answer->status) + " " + ErrorText(answer->body));
    std::lock_guard<std::mutex> lock(mu_);
    loaded_ = false;
    return Status::Ok();
  }

  BackendInfo Info() const override {
    std::lock_guard<std::mutex> lock(mu_);
    BackendInfo info;
    info.kind = "ollama";
    info.model = options_.model;
    info.context_length = options_.num_ctx;
    info.loaded = loaded_;
    return info;
  }

 private:
  const OllamaOptions options_;
  const HttpEndpoint endpoint_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  bool loaded_ = false;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<ChatBackend>> OpenOllamaBackend(const OllamaOptions& options) {
  auto endpoint = ParseHttpEndpoint(options.base_url);
  if (!endpoint.ok()) return endpoint.status();
  if (endpoint->base_path == "/api") endpoint->base_path.clear();
  if (options.model.empty())
    return InvalidArgument("an Ollama backend needs a model name (--llm-model llama3.2 ...)");
  return std::unique_ptr<ChatBackend>(new OllamaBackend(options, *endpoint));
}

}  // namespace easel::llm

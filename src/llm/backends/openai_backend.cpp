// OpenAiBackend: streaming chat completions over HTTP (see openai_backend.h).
#include "llm/backends/openai_backend.h"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "llm/backends/http_stream.h"
#include "llm/chat_json.h"

namespace easel::llm {
namespace {

using json = nlohmann::json;

// The server's message from an error body ({"error": {"message"}} or {"error": "..."}), else
// the body's start.
std::string ServerMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object() && e.contains("message") && e["message"].is_string())
      return e["message"].get<std::string>();
  }
  return body.substr(0, 300);
}

Status HttpError(const std::string& url, int status, const std::string& body) {
  const std::string what = "the server at " + url + " answered HTTP " + std::to_string(status) +
                           ": " + ServerMessage(body);
  if (status == 404) return NotFound(what + " (is the model name right? see its /models)");
  if (status == 401 || status == 403) return InvalidArgument(what + " (check the API key)");
  if (status >= 400 && status < 500) return InvalidArgument(what);
  return IoError(what);
}

// One tool call being put back together from its fragments.
struct PartialCall {
  std::string id, name, arguments;
};

class OpenAiBackend final : public ChatBackend {
 public:
  OpenAiBackend(OpenAiOptions options, HttpEndpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)) {}

  Result<ChatResult> Chat(const ChatRequest& request, const DeltaFn& on_delta) override {
    cancel_ = false;
    std::string model = options_.model;
    if (model.empty()) {
      auto first = FirstModel();
      if (!first.ok()) return first.status();
      model = *first;
    }
    json body = ToJson(request);
    body["model"] = model;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    if (request.tools.empty()) body.erase("tool_choice");
    if (!options_.send_extensions) {
      body.erase("top_k");
      body.erase("min_p");
      body.erase("repeat_penalty");
    }
    if (request.temperature <= 0) body["temperature"] = 0;

    ChatResult result;
    std::map<int, PartialCall> calls;
    Status stream_error;
    bool stopped = false, saw_done = false;
    const auto t0 = std::chrono::steady_clock::now();
    bool first_token = true;
    auto on_event = [&](const std::string& data) -> bool {
      if (data == "[DONE]") {
        saw_done = true;
        return false;
      }
      json chunk = json::parse(data, nullptr, false);
      if (!chunk.is_object()) {
        stream_error = IoError("the server at " + endpoint_.url() +
                               " sent an event that is not JSON: " + data.substr(0, 120));
        return false;
      }
      if (chunk.contains("error")) {
        stream_error = IoError("the server at " + endpoint_.url() +
                               " failed mid-stream: " + ServerMessage(data));
        return false;
      }
      if (chunk.contains("usage") && chunk["usage"].is_object()) {
        const json& u = chunk["usage"];
        result.usage.prompt_tokens = u.value("prompt_tokens", 0);
        result.usage.completion_tokens = u.value("completion_tokens", 0);
      }
      const json choices = chunk.value("choices", json::array());
      if (!choices.is_array() || choices.empty() || !choices[0].is_object()) return true;
      const json& choice = choices[0];
      const json delta = choice.value("delta", json::object());
      if (delta.is_object()) {
        if (delta.contains("content") && delta["content"].is_string()) {
          const std::string text = delta["content"];
          if (!text.empty()) {
            if (first_token) {
              first_token = false;
              result.usage.prefill_seconds =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            }
            result.content += text;
            if (on_delta && !on_delta(text)) {
              stopped = true;
              return false;
            }
          }
        }
        for (const json& tc : delta.value("tool_calls", json::array())) {
          if (!tc.is_object()) continue;
          PartialCall& p = calls[tc.value("index", static_cast<int>(calls.size()))];
          if (tc.contains("id") && tc["id"].is_string()) p.id = tc["id"];
          const json fn = tc.value("function", json::object());
          if (fn.is_object()) {
            if (fn.contains("name") && fn["name"].is_string())
              p.name += fn["name"].get<std::string>();
            if (fn.contains("arguments")) {
              if (fn["arguments"].is_string())
                p.arguments += fn["arguments"].get<std::string>();
              else if (fn["arguments"].is_object())
                p.arguments += fn["arguments"].dump();
            }
          }
        }
      }
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
        result.finish_reason = choice["finish_reason"];
      return true;
    };

    LineSplitter lines;
    std::string data;  // one event's data lines, joined
    auto on_line = [&](const std::string& line) -> bool {
      if (line.empty()) {  // the end of an event
        if (data.empty()) return true;
        std::string event = std::move(data);
        data.clear();
        return on_event(event);
      }
      if (line.rfind("data:", 0) == 0) {
        std::string part = line.substr(5);
        if (!part.empty() && part[0] == ' ') part.erase(0, 1);
        if (!data.empty()) data += "\n";
        data += part;
      }
      return true;  // comments (": keepalive"), "event:" and "id:" lines are ignored
    };
    HttpCall call;
    call.connect_timeout_s = options_.connect_timeout_s;
    call.read_timeout_s = options_.read_timeout_s;
    call.cancel = &cancel_;
    if (!options_.api_key.empty())
      call.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
    auto answer = PostJsonStreaming(
        endpoint_, "/chat/completions", body.dump(-1, ' ', false, json::error_handler_t::replace),
        call, [&](std::string_view bytes) { return lines.Feed(bytes, on_line); });
    if (!answer.ok()) {
      if (answer.status().code() == Code::kCancelled && !result.content.empty()) {
        result.finish_reason = "cancelled";
        return result;
      }
      return answer.status();
    }
    if (answer->status < 200 || answer->status >= 300)
      return HttpError(endpoint_.url() + "/chat/completions", answer->status, answer->body);
    if (!stream_error.ok()) return stream_error;
    if (!saw_done && !stopped && !data.empty()) on_event(data);  // no blank line at the end
    {
      std::lock_guard<std::mutex> lock(mu_);
      loaded_ = true;
      model_seen_ = model;
    }
    result.usage.decode_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() -
        result.usage.prefill_seconds;
    for (auto& [index, p] : calls) {
      ToolCall c;
      c.id = p.id.empty() ? "call_" + std::to_string(index) : p.id;
      c.name = p.name;
      c.arguments_json = p.arguments.empty() ? "{}" : p.arguments;
      json args = json::parse(c.arguments_json, nullptr, false);
      if (!args.is_object())
        return InvalidArgument(
            "the server at " + endpoint_.url() + " called the tool '" + c.name +
            "' with arguments that are not a JSON object: " + c.arguments_json.substr(0, 200));
      result.tool_calls.push_back(std::move(c));
    }
    if (stopped || cancel_) result.finish_reason = "cancelled";
    if (result.finish_reason.empty())
      result.finish_reason = result.tool_calls.empty() ? "stop" : "tool_calls";
    return result;
  }

  void Cancel() override { cancel_ = true; }
  Status Unload(bool /*hard*/) override { return Status::Ok(); }

  BackendInfo Info() const override {
    std::lock_guard<std::mutex> lock(mu_);
    BackendInfo info;
    info.kind = "openai";
    info.model = model_seen_.empty() ? options_.model : model_seen_;
    info.loaded = loaded_;
    return info;
  }

 private:
  Result<std::string> FirstModel() {
    HttpCall call;
    call.connect_timeout_s = options_.connect_timeout_s;
    call.read_timeout_s = 30;
    if (!options_.api_key.empty())
      call.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
    auto answer = GetText(endpoint_, "/models", call);
    if (!answer.ok()) return answer.status();
    if (answer->status != 200)
      return HttpError(endpoint_.url() + "/models", answer->status, answer->body);
    json j = json::parse(answer->body, nullptr, false);
    if (j.is_object() && j.contains("data") && j["data"].is_array())
      for (const json& m : j["data"])
        if (m.is_object() && m.contains("id") && m["id"].is_string())
          return m["id"].get<std::string>();
    return NotFound("the server at " + endpoint_.url() +
                    "/models lists no model: name one (--llm-model)");
  }

  const OpenAiOptions options_;
  const HttpEndpoint endpoint_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  bool loaded_ = false;     // guarded by mu_
  std::string model_seen_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<ChatBackend>> OpenOpenAiBackend(const OpenAiOptions& options) {
  auto endpoint = ParseHttpEndpoint(options.base_url);
  if (!endpoint.ok()) return endpoint.status();
  if (endpoint->base_path.empty()) endpoint->base_path = "/v1";
  return std::unique_ptr<ChatBackend>(new OpenAiBackend(options, *endpoint));
}

}  // namespace easel::llm

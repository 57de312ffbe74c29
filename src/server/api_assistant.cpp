// The assistant and language-model routes under /api/v1 (see api_llm.h; shapes in
// /work/notes/llm_api.md and openapi.cpp):
//   GET    /api/v1/llm/status                      the model, its memory, the last decision
//   POST   /api/v1/llm/enhance {prompt, style?}    -> {prompt, original}
//   POST   /api/v1/llm/analyse {prompt}            -> {analysis, source: "llm"|"keywords"}
//   POST   /api/v1/assistant/sessions {title?}     -> 201 {id, title, created_at}
//   GET    /api/v1/assistant/sessions              -> {sessions: [...]}
//   GET    /api/v1/assistant/sessions/{id}         -> {id, title, messages: [...]}
//   DELETE /api/v1/assistant/sessions/{id}         -> 204
//   POST   /api/v1/assistant/sessions/{id}/messages {content, tool_choice?, seed?,
//                                                  max_tool_calls?, max_tokens?}
//                                                  -> text/event-stream: delta, tool_call,
//                                                     tool_result, set_params, confirm, done, error
//   POST   /api/v1/assistant/sessions/{id}/confirm {call_id, approve} -> {job_id?, result}
// Times (created_at, updated_at) are milliseconds since the Unix epoch.
#include <algorithm>
#include <memory>
#include <mutex>

#include "assistant/assistant_loop.h"
#include "assistant/untrusted.h"
#include "library/library_api.h"
#include "llm/chat_json.h"
#include "llm/uses/analysis.h"
#include "server/api_llm.h"
#include "server/assistant_services.h"
#include "server/errors.h"
#include "store/ids.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

constexpr ApiStyle kStyle = ApiStyle::kNative;

Response Error(const Status& st) {
  return ErrorResponse(kStyle, st);
}
Response Error(int status, const std::string& code, const std::string& message) {
  return ErrorResponse(kStyle, status, code, message);
}
Response NoModel() {
  return Error(503, "llm_not_configured",
               "no language model is configured: start the server with --llm PATH.gguf (or "
               "--llm http://host:port/v1 for an external server)");
}

json SessionJson(const store::AssistantSession& s) {
  return {
      {"id", s.id}, {"title", s.title}, {"created_at", s.created_ms}, {"updated_at", s.updated_ms}};
}

json MessageJson(const store::AssistantMessage& m) {
  json j = llm::ToJson(m.message);
  j["id"] = m.id;
  j["created_at"] = m.created_ms;
  return j;
}

std::string Str(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status CheckSessionId(const std::string& id) {
  if (!store::IsValidId(id))
    return InvalidArgument("'" + id.substr(0, 80) + "' is not a session id (s_ and 16 hex digits)");
  return Status::Ok();
}

std::string TitleOf(const std::string& content) {
  std::string t = content.substr(0, 60);
  for (char& c : t)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while ((t.size() > 0) && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();
  if (!t.empty() && static_cast<unsigned char>(t.back()) >= 0xC0) t.pop_back();
  return t;
}

Response PostMessage(LlmContext& ctx, const Request& req) {
  if (ctx.llm == nullptr) return NoModel();
  const std::string id = req.params[0];
  if (Status st = CheckSessionId(id); !st.ok()) return Error(st);
  json body;
  Response err;
  if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
  const std::string content = Str(body, "content");
  if (content.empty())
    return Error(400, "invalid_argument", "'content' must be a non-empty string");
  if (content.size() > ctx.api->limits.max_prompt_chars)
    return Error(400, "invalid_argument",
                 "'content' is over the server's limit of " +
                     std::to_string(ctx.api->limits.max_prompt_chars) + " bytes");
  assistant::AssistantOptions options;
  options.max_tool_calls = ctx.max_tool_calls;
  const std::string tool_choice = Str(body, "tool_choice");
  if (!tool_choice.empty() && tool_choice != "auto") {
    bool known = false;
    for (const llm::ToolSpec& t : assistant::AssistantTools()) known |= t.name == tool_choice;
    if (!known)
      return Error(400, "invalid_argument",
                   "'tool_choice' must be \"auto\" or one of the assistant's tools, got '" +
                       tool_choice.substr(0, 64) + "'");
    options.force_tool = tool_choice;
  }
  if (body.contains("seed") && body["seed"].is_number_integer())
    options.seed = body["seed"].get<uint64_t>();
  // A turn may ask for less than the server allows (the UI's quick actions, tests).
  if (body.contains("max_tool_calls")) {
    if (!body["max_tool_calls"].is_number_integer() || body["max_tool_calls"] < 0)
      return Error(400, "invalid_argument", "'max_tool_calls' must be an integer >= 0");
    options.max_tool_calls = std::min(options.max_tool_calls, body["max_tool_calls"].get<int>());
  }
  if (body.contains("max_tokens")) {
    if (!body["max_tokens"].is_number_integer() || body["max_tokens"] < 1)
      return Error(400, "invalid_argument", "'max_tokens' must be an integer >= 1");
    options.max_tokens = std::min(options.max_tokens, body["max_tokens"].get<int>());
  }
  auto session = ctx.sessions->GetSession(id);
  if (!session.ok()) return Error(session.status());
  if (session->title.empty()) (void)ctx.sessions->RenameSession(id, TitleOf(content));
  llm::Message user{"user", content, {}, "", ""};
  auto stored = ctx.sessions->Append(id, {user});
  if (!stored.ok()) return Error(stored.status());

  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  LlmContext* c = &ctx;
  r.stream = [c, id, options](const http::StreamWriter& write) mutable {
    auto history = c->sessions->Messages(id);
    if (!history.ok()) {
      write(SseEvent("error", {{"code", CodeName(history.status().code())},
                               {"message", history.status().message()}}));
      return;
    }
    std::vector<llm::Message> messages;
    for (const store::AssistantMessage& m : *history) messages.push_back(m.message);
    ServerAssistantServices services(c->api, c->llm);
    assistant::TurnResult turn;
    Status st = c->llm->Use([&](llm::ChatBackend& backend) {
      options.routed = assistant::RoutedFor(backend.Info());
      auto t = assistant::RunAssistantTurn(
          backend, services, messages,
          [&](const std::string& type, const json& data) { return write(SseEvent(type, data)); },
          options);
      if (!t.ok()) return t.status();
      turn = std::move(*t);
      return Status::Ok();
    });
    if (!st.ok()) {
      write(SseEvent("error", {{"code", CodeName(st.code())}, {"message", st.message()}}));
      return;
    }
    auto saved = c->sessions->Append(id, turn.messages);
    if (!saved.ok()) {
      write(SseEvent("error", {{"code", CodeName(saved.status().code())},
                               {"message", saved.status().message()}}));
      return;
    }
    for (const assistant::PendingCall& p : turn.confirmations) {
      store::AssistantConfirmation conf;
      conf.session_id = id;
      conf.call_id = p.call.id;
      conf.name = p.call.name;
      conf.arguments_json = p.arguments.dump();
      conf.message_id = (*saved)[p.message_index].id;
      conf.state = "pending";
      Status added = c->sessions->AddConfirmation(conf);
      if (!added.ok())
        write(SseEvent("error", {{"code", CodeName(added.code())}, {"message", added.message()}}));
    }
    json last = saved->empty() ? json(nullptr) : MessageJson(saved->back());
    write(SseEvent("done", {{"message", last},
                            {"finish_reason", turn.finish_reason},
                            {"tool_calls", turn.tool_calls}}));
  };
  return r;
}

// `confirm_mu`: one confirm at a time, so a double click cannot queue a job twice.
Response Confirm(LlmContext& ctx, std::mutex& confirm_mu, const Request& req) {
  const std::string id = req.params[0];
  if (Status st = CheckSessionId(id); !st.ok()) return Error(st);
  json body;
  Response err;
  if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
  const std::string call_id = Str(body, "call_id");
  if (call_id.empty()) return Error(400, "invalid_argument", "'call_id' must name the tool call");
  if (!body.contains("approve") || !body["approve"].is_boolean())
    return Error(400, "invalid_argument", "'approve' must be true or false");
  const bool approve = body["approve"];
  std::lock_guard<std::mutex> lock(confirm_mu);
  auto conf = ctx.sessions->GetConfirmation(id, call_id);
  if (!conf.ok()) return Error(conf.status());
  if (conf->state != "pending")
    return Error(409, "already_decided",
                 "the tool call " + call_id + " was " + conf->state + " already" +
                     (conf->job_id.empty() ? "" : " (job " + conf->job_id + ")"));
  json result;
  std::string job_id;
  if (approve) {
    json params = json::parse(conf->arguments_json, nullptr, false);
    if (!params.is_object()) return Error(500, "internal", "the stored arguments do not parse");
    auto built = BuildJob(params, ctx.api->Build());
    if (!built.ok()) return Error(built.status());
    auto job = ctx.api->orchestrator->Submit(*built);
    if (!job.ok()) return Error(job.status());
    job_id = job->id;
    result = {{"status", "queued"},
              {"job_id", job_id},
              {"note", "the user confirmed; the image is being generated"}};
  } else {
    result = {{"status", "declined"}, {"note", "the user declined this generation"}};
  }
  Status st = ctx.sessions->Decide(
      id, call_id, approve, job_id,
      assistant::ToolResultContent(assistant::kQueueGeneration, result, false));
  if (!st.ok()) return Error(st);
  json out = {{"result", result}};
  if (!job_id.empty()) out["job_id"] = job_id;
  return Response::Json(200, out);
}

}  // namespace

void AddAssistantRoutes(http::Router& router, LlmContext& ctx) {
  LlmContext* c = &ctx;
  router.Get("/api/v1/llm/status", [c](const Request&) {
    if (c->llm == nullptr)
      return Response::Json(200, {{"configured", false},
                                  {"kind", ""},
                                  {"model", ""},
                                  {"loaded", false},
                                  {"context_length", 0},
                                  {"weights_bytes", 0},
                                  {"kv_cache_bytes", 0},
                                  {"idle_unload_s", 0},
                                  {"last_decision", nullptr}});
    return Response::Json(200, c->llm->StatusJson());
  });
  router.Post("/api/v1/llm/enhance", [c](const Request& req) {
    if (c->llm == nullptr) return NoModel();
    json body;
    Response err;
    if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
    const std::string prompt = Str(body, "prompt");
    if (prompt.empty())
      return Error(400, "invalid_argument", "'prompt' must be a non-empty string");
    if (prompt.size() > c->api->limits.max_prompt_chars)
      return Error(400, "invalid_argument", "'prompt' is too long");
    const std::string style = Str(body, "style");
    std::string enhanced;
    Status st = c->llm->Use([&](llm::ChatBackend& b) {
      auto r = EnhanceWith(b, *c->api, prompt, style);
      if (!r.ok()) return r.status();
      enhanced = *r;
      return Status::Ok();
    });
    if (!st.ok()) return Error(st);
    return Response::Json(200, {{"prompt", enhanced}, {"original", prompt}});
  });
  router.Post("/api/v1/llm/analyse", [c](const Request& req) {
    json body;
    Response err;
    if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
    const std::string prompt = Str(body, "prompt");
    if (prompt.empty())
      return Error(400, "invalid_argument", "'prompt' must be a non-empty string");
    // The model's schema-checked analysis, or the keyword analyser without a model (or when
    // the model's answer fails): llm/uses/analysis.h.
    llm::PromptAnalysisResult result;
    Status st = Status::Ok();
    if (c->llm == nullptr) {
      result = llm::KeywordPromptAnalysis(prompt);
    } else {
      st = c->llm->Use([&](llm::ChatBackend& b) {
        auto r = llm::AnalysePrompt(b, prompt, body.value("seed", uint64_t{0}));
        if (!r.ok()) return r.status();
        result = std::move(*r);
        return Status::Ok();
      });
    }
    if (!st.ok()) return Error(st);
    json out = {{"analysis", result.analysis}, {"source", result.source}};
    if (!result.fallback.empty()) out["fallback"] = result.fallback;
    return Response::Json(200, out);
  });

  router.Post("/api/v1/assistant/sessions", [c](const Request& req) {
    json body = json::object();
    if (!req.body.empty()) {
      Response err;
      if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
    }
    const std::string title = TitleOf(Str(body, "title"));
    auto s = c->sessions->CreateSession(title);
    if (!s.ok()) return Error(s.status());
    Response r =
        Response::Json(201, {{"id", s->id}, {"title", s->title}, {"created_at", s->created_ms}});
    r.headers.emplace_back("Location", "/api/v1/assistant/sessions/" + s->id);
    return r;
  });
  router.Get("/api/v1/assistant/sessions", [c](const Request&) {
    auto list = c->sessions->ListSessions();
    if (!list.ok()) return Error(list.status());
    json out = json::array();
    for (const store::AssistantSession& s : *list) out.push_back(SessionJson(s));
    return Response::Json(200, {{"sessions", out}});
  });
  router.Get("/api/v1/assistant/sessions/([^/]+)", [c](const Request& req) {
    const std::string id = req.params[0];
    if (Status st = CheckSessionId(id); !st.ok()) return Error(st);
    auto s = c->sessions->GetSession(id);
    if (!s.ok()) return Error(s.status());
    auto messages = c->sessions->Messages(id);
    if (!messages.ok()) return Error(messages.status());
    json out = SessionJson(*s);
    out["messages"] = json::array();
    for (const store::AssistantMessage& m : *messages) out["messages"].push_back(MessageJson(m));
    auto pending = c->sessions->PendingConfirmations(id);
    if (pending.ok()) {
      out["pending_confirmations"] = json::array();
      for (const store::AssistantConfirmation& p : *pending)
        out["pending_confirmations"].push_back(
            {{"id", p.call_id},
             {"name", p.name},
             {"arguments", json::parse(p.arguments_json, nullptr, false)}});
    }
    return Response::Json(200, out);
  });
  router.Delete("/api/v1/assistant/sessions/([^/]+)", [c](const Request& req) {
    const std::string id = req.params[0];
    if (Status st = CheckSessionId(id); !st.ok()) return Error(st);
    Status st = c->sessions->DeleteSession(id);
    if (!st.ok()) return Error(st);
    return Response::Bytes(204, "application/json", "");
  });
  router.Post("/api/v1/assistant/sessions/([^/]+)/messages",
              [c](const Request& req) { return PostMessage(*c, req); });
  auto confirm_mu = std::make_shared<std::mutex>();
  router.Post("/api/v1/assistant/sessions/([^/]+)/confirm",
              [c, confirm_mu](const Request& req) { return Confirm(*c, *confirm_mu, req); });
}

}  // namespace easel::server

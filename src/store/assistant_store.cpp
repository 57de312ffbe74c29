// SqliteAssistantStore: see assistant_store.h.
#include "store/assistant_store.h"

#include <nlohmann/json.hpp>

#include "llm/chat_json.h"
#include "store/easel_schema.h"
#include "store/guarded.h"
#include "store/ids.h"

namespace easel::store {
namespace {

using json = nlohmann::json;

AssistantSession ReadSession(Statement& st) {
  return AssistantSession{st.Text(0), st.Text(1), st.Int(2), st.Int(3)};
}

std::string ToolCallsText(const std::vector<llm::ToolCall>& calls) {
  if (calls.empty()) return "";
  json j = json::array();
  for (const llm::ToolCall& c : calls) j.push_back(llm::ToJson(c));
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<llm::ToolCall> ToolCallsFrom(const std::string& text) {
  std::vector<llm::ToolCall> out;
  if (text.empty()) return out;
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const json& c : j) {
    auto call = llm::ToolCallFromJson(c);
    if (call.ok()) out.push_back(*call);
  }
  return out;
}

AssistantConfirmation ReadConfirmation(Statement& st) {
  AssistantConfirmation c;
  c.session_id = st.Text(0);
  c.call_id = st.Text(1);
  c.name = st.Text(2);
  c.arguments_json = st.Text(3);
  c.message_id = st.Text(4);
  c.state = st.Text(5);
  c.job_id = st.Text(6);
  c.created_ms = st.Int(7);
  c.decided_ms = st.Int(8);
  return c;
}

constexpr const char* kConfirmationColumns =
    "session_id, call_id, name, arguments_json, message_id, state, job_id, created_ms, decided_ms";

Status NoSession(const std::string& id) {
  return NotFound("no assistant session '" + id.substr(0, 80) +
                  "' (list them with GET /api/v1/assistant/sessions)");
}

}  // namespace

Result<std::unique_ptr<SqliteAssistantStore>> SqliteAssistantStore::Open(const std::string& db_path,
                                                                         DatabaseOptions options) {
  auto db = OpenEaselDatabase(db_path, std::move(options));
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteAssistantStore>(new SqliteAssistantStore(std::move(*db)));
}

Result<AssistantSession> SqliteAssistantStore::CreateSession(const std::string& title) {
  return Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    AssistantSession s{NewId("s_"), title, NowMs(), 0};
    s.updated_ms = s.created_ms;
    Statement st = db_->Prepare(
        "INSERT INTO assistant_sessions (id, title, created_ms, updated_ms) VALUES (?, ?, ?, ?)");
    st.Bind(1, s.id).Bind(2, s.title).Bind(3, s.created_ms).Bind(4, s.updated_ms);
    st.Run();
    return s;
  });
}

Result<AssistantSession> SqliteAssistantStore::GetSession(const std::string& id) {
  auto r = Guarded([&]() -> std::optional<AssistantSession> {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "SELECT id, title, created_ms, updated_ms FROM assistant_sessions WHERE id = ?");
    st.Bind(1, id);
    if (!st.Step()) return std::nullopt;
    return ReadSession(st);
  });
  if (!r.ok()) return r.status();
  if (!*r) return NoSession(id);
  return **r;
}

Result<std::vector<AssistantSession>> SqliteAssistantStore::ListSessions(int limit) {
  return Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "SELECT id, title, created_ms, updated_ms FROM assistant_sessions "
        "ORDER BY updated_ms DESC, id LIMIT ?");
    st.Bind(1, limit);
    std::vector<AssistantSession> out;
    while (st.Step()) out.push_back(ReadSession(st));
    return out;
  });
}

Status SqliteAssistantStore::DeleteSession(const std::string& id) {
  auto r = Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare("DELETE FROM assistant_sessions WHERE id = ?");
    st.Bind(1, id);
    st.Run();
    return db_->Changes();
  });
  if (!r.ok()) return r.status();
  return *r > 0 ? Status::Ok() : NoSession(id);
}

Status SqliteAssistantStore::RenameSession(const std::string& id, const std::string& title) {
  auto r = Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare("UPDATE assistant_sessions SET title = ? WHERE id = ?");
    st.Bind(1, title).Bind(2, id);
    st.Run();
    return db_->Changes();
  });
  if (!r.ok()) return r.status();
  return *r > 0 ? Status::Ok() : NoSession(id);
}

Result<std::vector<AssistantMessage>> SqliteAssistantStore::Append(
    const std::string& session_id, const std::vector<llm::Message>& messages) {
  auto r = Guarded([&]() -> std::optional<std::vector<AssistantMessage>> {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*db_);
    const int64_t now = NowMs();
    Statement touch = db_->Prepare("UPDATE assistant_sessions SET updated_ms = ? WHERE id = ?");
    touch.Bind(1, now).Bind(2, session_id);
    touch.Run();
    if (db_->Changes() == 0) return std::nullopt;
    std::vector<AssistantMessage> out;
    Statement st = db_->Prepare(
        "INSERT INTO assistant_messages (id, session_id, role, content, tool_calls_json, "
        "tool_call_id, name, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    for (const llm::Message& m : messages) {
      AssistantMessage am{NewId("m_"), m, now};
      st.Reset();
      st.Bind(1, am.id)
          .Bind(2, session_id)
          .Bind(3, m.role)
          .Bind(4, m.content)
          .Bind(5, ToolCallsText(m.tool_calls))
          .Bind(6, m.tool_call_id)
          .Bind(7, m.name)
          .Bind(8, now);
      st.Run();
      out.push_back(std::move(am));
    }
    tx.Commit();
    return out;
  });
  if (!r.ok()) return r.status();
  if (!*r) return NoSession(session_id);
  return std::move(**r);
}

Result<std::vector<AssistantMessage>> SqliteAssistantStore::Messages(
    const std::string& session_id) {
  return Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "SELECT id, role, content, tool_calls_json, tool_call_id, name, created_ms "
        "FROM assistant_messages WHERE session_id = ? ORDER BY seq");
    st.Bind(1, session_id);
    std::vector<AssistantMessage> out;
    while (st.Step()) {
      AssistantMessage m;
      m.id = st.Text(0);
      m.message.role = st.Text(1);
      m.message.content = st.Text(2);
      m.message.tool_calls = ToolCallsFrom(st.Text(3));
      m.message.tool_call_id = st.Text(4);
      m.message.name = st.Text(5);
      m.created_ms = st.Int(6);
      out.push_back(std::move(m));
    }
    return out;
  });
}

Status SqliteAssistantStore::SetContent(const std::string& message_id, const std::string& content) {
  auto r = Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare("UPDATE assistant_messages SET content = ? WHERE id = ?");
    st.Bind(1, content).Bind(2, message_id);
    st.Run();
    return db_->Changes();
  });
  if (!r.ok()) return r.status();
  return *r > 0 ? Status::Ok() : NotFound("no assistant message '" + message_id + "'");
}

Status SqliteAssistantStore::AddConfirmation(const AssistantConfirmation& c) {
  auto r = Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(std::string("INSERT INTO assistant_confirmations (") +
                                kConfirmationColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.Bind(1, c.session_id)
        .Bind(2, c.call_id)
        .Bind(3, c.name)
        .Bind(4, c.arguments_json)
        .Bind(5, c.message_id)
        .Bind(6, c.state.empty() ? std::string("pending") : c.state)
        .Bind(7, c.job_id)
        .Bind(8, c.created_ms > 0 ? c.created_ms : NowMs())
        .Bind(9, c.decided_ms);
    st.Run();
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Result<AssistantConfirmation> SqliteAssistantStore::GetConfirmation(const std::string& session_id,
                                                                    const std::string& call_id) {
  auto r = Guarded([&]() -> std::optional<AssistantConfirmation> {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(std::string("SELECT ") + kConfirmationColumns +
                                " FROM assistant_confirmations WHERE session_id = ? AND "
                                "call_id = ?");
    st.Bind(1, session_id).Bind(2, call_id);
    if (!st.Step()) return std::nullopt;
    return ReadConfirmation(st);
  });
  if (!r.ok()) return r.status();
  if (!*r)
    return NotFound("no tool call '" + call_id.substr(0, 80) +
                    "' waits for confirmation in session " + session_id);
  return **r;
}

Result<std::vector<AssistantConfirmation>> SqliteAssistantStore::PendingConfirmations(
    const std::string& session_id) {
  return Guarded([&]() {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(std::string("SELECT ") + kConfirmationColumns +
                                " FROM assistant_confirmations WHERE session_id = ? AND state = "
                                "'pending' ORDER BY created_ms");
    st.Bind(1, session_id);
    std::vector<AssistantConfirmation> out;
    while (st.Step()) out.push_back(ReadConfirmation(st));
    return out;
  });
}

Status SqliteAssistantStore::Decide(const std::string& session_id, const std::string& call_id,
                                    bool approved, const std::string& job_id,
                                    const std::string& result_content) {
  auto r = Guarded([&]() -> int {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*db_);
    Statement get = db_->Prepare(
        "SELECT state, message_id FROM assistant_confirmations WHERE session_id = ? AND call_id "
        "= ?");
    get.Bind(1, session_id).Bind(2, call_id);
    if (!get.Step()) return 0;
    if (get.Text(0) != "pending") return -1;
    const std::string message_id = get.Text(1);
    Statement set = db_->Prepare(
        "UPDATE assistant_confirmations SET state = ?, job_id = ?, decided_ms = ? WHERE "
        "session_id = ? AND call_id = ?");
    set.Bind(1, approved ? "approved" : "declined")
        .Bind(2, job_id)
        .Bind(3, NowMs())
        .Bind(4, session_id)
        .Bind(5, call_id);
    set.Run();
    Statement msg = db_->Prepare("UPDATE assistant_messages SET content = ? WHERE id = ?");
    msg.Bind(1, result_content).Bind(2, message_id);
    msg.Run();
    tx.Commit();
    return 1;
  });
  if (!r.ok()) return r.status();
  if (*r == 0)
    return NotFound("no tool call '" + call_id.substr(0, 80) +
                    "' waits for confirmation in session " + session_id);
  if (*r < 0)
    return InvalidArgument("the tool call '" + call_id.substr(0, 80) +
                           "' was decided already (a confirmation counts once)");
  return Status::Ok();
}

}  // namespace easel::store

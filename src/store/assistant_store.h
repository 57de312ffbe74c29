// SqliteAssistantStore: the creative assistant's sessions, their messages (OpenAI chat shape:
// role, content, tool calls, tool_call_id, name) and the tool calls waiting for the user's
// confirmation, in Easel's database (schema v4: assistant_sessions, assistant_messages,
// assistant_confirmations). Deleting a session deletes its messages and confirmations.
//
// Concurrency: one connection per object, guarded by a mutex (calls run one at a time);
// safe from any thread. Errors: kNotFound for an unknown session / confirmation, kIo and
// kCorrupt from the database.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llm/chat_backend.h"
#include "store/database.h"
#include "util/status.h"

namespace easel::store {

struct AssistantSession {
  std::string id;  // "s_" + 16 hex digits
  std::string title;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct AssistantMessage {
  std::string id;  // "m_" + 16 hex digits
  llm::Message message;
  int64_t created_ms = 0;
};

struct AssistantConfirmation {
  std::string session_id, call_id, name, arguments_json;
  std::string message_id;  // the tool message that records the outcome
  std::string state;       // "pending" | "approved" | "declined"
  std::string job_id;
  int64_t created_ms = 0, decided_ms = 0;
};

class SqliteAssistantStore {
 public:
  static Result<std::unique_ptr<SqliteAssistantStore>> Open(const std::string& db_path,
                                                            DatabaseOptions options = {});

  Result<AssistantSession> CreateSession(const std::string& title);
  Result<AssistantSession> GetSession(const std::string& id);
  // Newest first (by updated_ms).
  Result<std::vector<AssistantSession>> ListSessions(int limit = 200);
  Status DeleteSession(const std::string& id);
  Status RenameSession(const std::string& id, const std::string& title);

  // Appends messages in order (one transaction) and bumps the session's updated_ms; returns
  // them with their ids.
  Result<std::vector<AssistantMessage>> Append(const std::string& session_id,
                                               const std::vector<llm::Message>& messages);
  Result<std::vector<AssistantMessage>> Messages(const std::string& session_id);
  // Rewrites one message's content (a tool result once the user decided).
  Status SetContent(const std::string& message_id, const std::string& content);

  Status AddConfirmation(const AssistantConfirmation& c);
  Result<AssistantConfirmation> GetConfirmation(const std::string& session_id,
                                                const std::string& call_id);
  Result<std::vector<AssistantConfirmation>> PendingConfirmations(const std::string& session_id);
  // pending -> approved/declined, with the tool message's new content, in one transaction.
  // kInvalidArgument when it is not pending any more (decided already).
  Status Decide(const std::string& session_id, const std::string& call_id, bool approved,
                const std::string& job_id, const std::string& result_content);

 private:
  explicit SqliteAssistantStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  std::mutex mu_;
  std::unique_ptr<Database> db_;  // guarded by mu_
};

}  // namespace easel::store

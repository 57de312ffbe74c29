// The built-in runtime behind a process boundary. See worker_backend.h.
#include "llm/worker_backend.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "llm/chat_json.h"
#include "server/process.h"
#include "server/worker_protocol.h"
#include "util/files.h"

namespace easel::llm {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kSendTimeoutMs = 30000;
constexpr int kPollMs = 200;

std::string StringOf(const json& msg, const char* key) {
  return msg.is_object() && msg.contains(key) && msg[key].is_string() ? msg[key].get<std::string>()
                                                                      : std::string();
}

int64_t IntOf(const json& msg, const char* key) {
  return msg.is_object() && msg.contains(key) && msg[key].is_number_integer()
             ? msg[key].get<int64_t>()
             : 0;
}

Status ErrorFrom(const json& msg) {
  const std::string message = StringOf(msg, "message");
  return Status(worker_protocol::CodeFromId(StringOf(msg, "code")),
                message.empty() ? "the LLM worker reported an error without a message" : message);
}

// Waits up to `ms` for the child to end; its wait status, or nullopt.
std::optional<int> WaitFor(pid_t pid, int ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    if (auto st = process::TryReap(pid)) return st;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

Result<std::unique_ptr<WorkerBackend>> WorkerBackend::Start(const WorkerBackendOptions& options) {
  std::unique_ptr<WorkerBackend> b(new WorkerBackend(options));
  if (b->options_.easel_binary.empty()) b->options_.easel_binary = process::SelfExe();
  std::lock_guard<std::mutex> lock(b->mu_);
  EASEL_RETURN_IF_ERROR(b->Spawn());
  return b;
}

WorkerBackend::~WorkerBackend() {
  Cancel();
  std::lock_guard<std::mutex> lock(mu_);
  Stop(5000);
}

Status WorkerBackend::Spawn() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "easel-llm-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return IoError("cannot create a folder for the LLM worker's socket in " + tmpl + ": " +
                   ErrnoText(errno));
  }
  dir_ = tmpl;
  struct DirCleanup {
    std::string dir;
    ~DirCleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir_};
  auto address = ipc::Address::Parse("unix:" + dir_ + "/llm.sock");
  if (!address.ok()) return address.status();
  auto listener = ipc::Listener::Listen(*address);
  if (!listener.ok()) return listener.status();
  const std::string token = process::RandomToken();
  const BuiltinOptions& b = options_.builtin;
  process::SpawnOptions so;
  so.path = options_.easel_binary;
  so.args = {"worker",    "llm",
             "--model",   b.model_path,
             "--device",  b.device,
             "--dtype",   b.dtype,
             "--context", std::to_string(b.context),
             "--connect", address->ToString()};
  so.env = options_.env;
  so.env.push_back(std::string(worker_protocol::kTokenEnv) + "=" + token);
  // The worker ends when its connection closes, so it need not die with the spawning thread
  // (which may be a short-lived request thread).
  so.die_with_parent = false;
  auto pid = process::Spawn(so);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.hello_timeout_ms);
  auto fail = [&](Status st) {
    ::kill(pid_, SIGKILL);
    process::Reap(pid_);
    pid_ = -1;
    conn_ = ipc::Connection();
    return st;
  };
  // Connect.
  for (;;) {
    auto conn = listener->Accept(kPollMs);
    if (!conn.ok()) return fail(conn.status());
    if (conn->connected()) {
      conn_ = std::move(*conn);
      break;
    }
    if (auto st = process::TryReap(pid_)) {
      pid_ = -1;
      return IoError("the LLM worker (" + options_.easel_binary + " worker llm) " +
                     process::DescribeExit(*st) + " before connecting; its messages are above");
    }
    if (Clock::now() >= deadline) {
      return fail(IoError("the LLM worker did not connect within " +
                          std::to_string(options_.hello_timeout_ms) + " ms"));
    }
  }
  // Hello (after the model has loaded) or the load error.
  for (;;) {
    auto r = conn_.Recv(kPollMs);
    if (!r.ok()) return fail(r.status());
    if (r->state == ipc::RecvState::kMessage) {
      const std::string type = StringOf(r->message, "type");
      if (type == "error") {
        Status st = ErrorFrom(r->message);
        WaitFor(pid_, 5000);
        return fail(st);
      }
      if (type != "hello") continue;
      if (StringOf(r->message, "token") != token) {
        return fail(IoError("the process that said hello did not carry the LLM worker's token"));
      }
      std::lock_guard<std::mutex> lock(info_mu_);
      info_.kind = "worker";
      info_.model = b.model_path;
      info_.context_length = IntOf(r->message, "context_length");
      info_.weights_bytes = IntOf(r->message, "weights_bytes");
      info_.kv_cache_bytes = 0;
      info_.loaded = true;
      return Status::Ok();
    }
    if (r->state == ipc::RecvState::kClosed) {
      auto st = WaitFor(pid_, 5000);
      return fail(IoError("the LLM worker closed its connection before saying hello" +
                          (st ? ": it " + process::DescribeExit(*st) : std::string())));
    }
    if (Clock::now() >= deadline) {
      return fail(IoError("the LLM worker did not load " + b.model_path + " within " +
                          std::to_string(options_.hello_timeout_ms) + " ms"));
    }
  }
}

void WorkerBackend::Stop(int grace_ms) {
  {
    std::lock_guard<std::mutex> lock(id_mu_);
    running_id_.clear();
  }
  if (pid_ < 0) return;
  (void)conn_.Send({{"type", "shutdown"}}, 1000);
  if (!WaitFor(pid_, grace_ms)) {
    ::kill(pid_, SIGKILL);
    process::Reap(pid_);
  }
  pid_ = -1;
  conn_.Close();
  std::lock_guard<std::mutex> lock(info_mu_);
  info_.loaded = false;
  info_.weights_bytes = 0;
  info_.kv_cache_bytes = 0;
}

Status WorkerBackend::Died(const std::string& during) {
  {
    std::lock_guard<std::mutex> lock(id_mu_);
    running_id_.clear();
  }
  conn_.Close();
  std::string how = "is unreachable";
  if (pid_ >= 0) {
    auto st = WaitFor(pid_, 2000);
    if (!st) {
      ::kill(pid_, SIGKILL);
      st = process::Reap(pid_);
    }
    how = process::DescribeExit(*st);
  }
  const pid_t pid = pid_;
  pid_ = -1;
  {
    std::lock_guard<std::mutex> lock(info_mu_);
    info_.loaded = false;
    info_.weights_bytes = 0;
    info_.kv_cache_bytes = 0;
  }
  return IoError("the LLM worker (pid " + std::to_string(pid) + ") " + how + " " + during +
                 "; the next request starts a new one");
}

Result<ChatResult> WorkerBackend::Chat(const ChatRequest& request, const DeltaFn& on_delta) {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_ = false;
  if (pid_ < 0) EASEL_RETURN_IF_ERROR(Spawn());
  const std::string id = "chat-" + std::to_string(++next_id_);
  {
    std::lock_guard<std::mutex> id_lock(id_mu_);
    running_id_ = id;
  }
  if (!conn_.Send({{"type", "chat"}, {"id", id}, {"request", ToJson(request)}}, kSendTimeoutMs)
           .ok()) {
    return Died("while a chat was being sent");
  }
  bool cancel_sent = false;
  auto finish = [&] {
    std::lock_guard<std::mutex> id_lock(id_mu_);
    running_id_.clear();
  };
  for (;;) {
    if (cancel_ && !cancel_sent) {
      cancel_sent = true;
      (void)conn_.Send({{"type", "cancel"}, {"id", id}}, kSendTimeoutMs);
    }
    auto r = conn_.Recv(kPollMs);
    if (!r.ok()) return Died("during a chat (" + r.status().message() + ")");
    if (r->state == ipc::RecvState::kClosed) return Died("during a chat");
    if (r->state == ipc::RecvState::kTimeout) {
      if (auto st = process::TryReap(pid_)) {
        // Reaped already: describe it without waiting again.
        const pid_t pid = pid_;
        pid_ = -1;
        finish();
        conn_.Close();
        std::lock_guard<std::mutex> info_lock(info_mu_);
        info_.loaded = false;
        info_.weights_bytes = info_.kv_cache_bytes = 0;
        return IoError("the LLM worker (pid " + std::to_string(pid) + ") " +
                       process::DescribeExit(*st) +
                       " during a chat; the next request starts a new one");
      }
      continue;
    }
    const json& msg = r->message;
    const std::string type = StringOf(msg, "type");
    const bool mine = StringOf(msg, "id") == id;
    if (type == "delta" && mine) {
      if (on_delta && !on_delta(StringOf(msg, "text"))) cancel_ = true;
    } else if (type == "done" && mine) {
      finish();
      if (!msg.contains("result")) return Internal("the LLM worker's done message has no result");
      auto result = ChatResultFromJson(msg["result"]);
      if (!result.ok()) return result.status();
      std::lock_guard<std::mutex> info_lock(info_mu_);
      info_.kv_cache_bytes = IntOf(msg, "kv_cache_bytes");
      return result;
    } else if (type == "error" && (mine || msg.value("id", json()).is_null())) {
      finish();
      return ErrorFrom(msg);
    } else if (type == "unloaded") {
      std::lock_guard<std::mutex> info_lock(info_mu_);
      info_.kv_cache_bytes = IntOf(msg, "kv_cache_bytes");
      info_.weights_bytes = IntOf(msg, "weights_bytes");
    }
  }
}

void WorkerBackend::Cancel() {
  cancel_ = true;
}

Status WorkerBackend::Unload(bool hard) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    Cancel();
    lock.lock();
  }
  if (pid_ < 0) return Status::Ok();
  if (hard) {
    Stop(5000);
    return Status::Ok();
  }
  if (!conn_.Send({{"type", "unload"}, {"hard", false}}, kSendTimeoutMs).ok()) {
    return Died("while asked to unload");
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    auto r = conn_.Recv(kPollMs);
    if (!r.ok() || r->state == ipc::RecvState::kClosed) return Died("while unloading");
    if (r->state != ipc::RecvState::kMessage) continue;
    const std::string type = StringOf(r->message, "type");
    if (type == "unloaded") {
      std::lock_guard<std::mutex> info_lock(info_mu_);
      info_.kv_cache_bytes = IntOf(r->message, "kv_cache_bytes");
      info_.weights_bytes = IntOf(r->message, "weights_bytes");
      return Status::Ok();
    }
    if (type == "error" && r->message.value("id", json()).is_null()) return ErrorFrom(r->message);
  }
  return IoError("the LLM worker did not answer an unload within 30 s");
}

BackendInfo WorkerBackend::Info() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return info_;
}

}  // namespace easel::llm

// easel worker llm: the built-in language-model runtime in its own process, serving one
// server over IPC (protocol: src/llm/llm_worker_protocol.h). Started by llm::WorkerBackend.
//
//   easel worker llm --model PATH [--device cpu] [--dtype auto] [--context N] --connect ADDR
//
// Lifecycle: connect (retrying for --connect-timeout seconds), load the model, say hello,
// then serve. The main thread reads messages; a chat runs on a second thread that sends its
// deltas and its result itself (ipc::Connection::Send is thread-safe), so "cancel", "ping" and
// "unload" are answered while it generates.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "llm/chat_json.h"
#include "llm/llm_worker_protocol.h"
#include "llm/torch/builtin_backend.h"
#include "server/ipc.h"
#include "server/worker_protocol.h"

namespace easel::cli {
namespace {

namespace lwp = llm::llm_worker_protocol;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kSendTimeoutMs = 60000;

struct LlmWorkerOptions {
  llm::BuiltinOptions builtin;
  std::string connect;
  double connect_timeout_s = 10;
};

json ErrorMessage(const json& id, const Status& st) {
  return {{"type", "error"},
          {"id", id},
          {"code", worker_protocol::CodeId(st.code())},
          {"message", st.message()}};
}

class LlmWorker {
 public:
  LlmWorker(ipc::Connection conn, std::unique_ptr<llm::BuiltinBackend> backend)
      : conn_(std::move(conn)), backend_(std::move(backend)) {}
  ~LlmWorker() { Join(); }

  int Serve() {
    for (;;) {
      auto r = conn_.Recv(-1);
      if (!r.ok()) {
        if (conn_.read_failed()) {
          std::fprintf(stderr, "easel worker llm: the connection is unreadable: %s\n",
                       r.status().ToString().c_str());
          Stop();
          return lwp::kExitOk;
        }
        Send(ErrorMessage(nullptr, r.status()));
        continue;
      }
      if (r->state == ipc::RecvState::kClosed) {
        Stop();
        return lwp::kExitOk;
      }
      if (r->state != ipc::RecvState::kMessage) continue;
      const json& msg = r->message;
      const std::string type = msg.is_object() && msg.contains("type") && msg["type"].is_string()
                                   ? msg["type"].get<std::string>()
                                   : "";
      const json id = msg.is_object() && msg.contains("id") ? msg["id"] : json(nullptr);
      if (type == "chat") {
        StartChat(id, msg);
      } else if (type == "cancel") {
        std::lock_guard<std::mutex> lock(mu_);
        if (busy_ && id == running_id_) backend_->Cancel();
      } else if (type == "unload") {
        const bool hard =
            msg.contains("hard") && msg["hard"].is_boolean() && msg["hard"].get<bool>();
        Status st = backend_->Unload(hard);  // cancels a running chat, waits for it
        if (!st.ok()) {
          Send(ErrorMessage(nullptr, st));
        } else {
          const llm::BackendInfo info = backend_->Info();
          Send({{"type", "unloaded"},
                {"kv_cache_bytes", info.kv_cache_bytes},
                {"weights_bytes", info.weights_bytes}});
        }
      } else if (type == "ping") {
        Send({{"type", "pong"}});
      } else if (type == "shutdown") {
        Stop();
        return lwp::kExitOk;
      } else {
        Send(
            ErrorMessage(id, InvalidArgument("unknown message type '" + type +
                                             "' (expected chat, cancel, unload, ping, shutdown)")));
      }
    }
  }

 private:
  void Send(const json& msg) { (void)conn_.Send(msg, kSendTimeoutMs); }

  void StartChat(const json& id, const json& msg) {
    if (!id.is_string() || id.get<std::string>().empty()) {
      Send(ErrorMessage(id, InvalidArgument("a chat needs a non-empty string 'id'")));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (busy_) {
        Send(ErrorMessage(id, InvalidArgument("a chat is already running (" + running_id_.dump() +
                                              "); send one at a time")));
        return;
      }
    }
    auto req = msg.contains("request")
                   ? llm::ChatRequestFromJson(msg["request"])
                   : Result<llm::ChatRequest>(InvalidArgument("a chat needs a 'request' object"));
    if (!req.ok()) {
      Send(ErrorMessage(id, req.status()));
      return;
    }
    Join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = true;
      running_id_ = id;
    }
    thread_ = std::thread([this, id, request = std::move(*req)] {
      auto result = backend_->Chat(request, [&](std::string_view text) {
        Send({{"type", "delta"}, {"id", id}, {"text", std::string(text)}});
        return true;
      });
      // Not busy before the answer goes out: the server may send the next chat at once.
      json answer = result.ok() ? json{{"type", "done"},
                                       {"id", id},
                                       {"result", llm::ToJson(*result)},
                                       {"kv_cache_bytes", backend_->Info().kv_cache_bytes}}
                                : ErrorMessage(id, result.status());
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_ = false;
      }
      Send(answer);
    });
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Stop() {
    backend_->Cancel();
    Join();
  }

  ipc::Connection conn_;
  std::unique_ptr<llm::BuiltinBackend> backend_;
  std::thread thread_;
  std::mutex mu_;
  bool busy_ = false;
  json running_id_;
};

}  // namespace

Command AddWorkerLlm(CLI::App& worker) {
  auto o = std::make_shared<LlmWorkerOptions>();
  CLI::App* sub = worker.add_subcommand(
      "llm", "Serve a language model for an easel server (started by the server itself)");
  sub->add_option("--model", o->builtin.model_path, "A .gguf file or a Hugging Face folder")
      ->required();
  sub->add_option("--device", o->builtin.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o->builtin.dtype, "auto, float32, float16 or bfloat16")
      ->capture_default_str();
  sub->add_option("--context", o->builtin.context,
                  "Context limit in tokens (0: the model's, at most 8192)")
      ->capture_default_str();
  sub->add_option("--connect", o->connect, "Server address: unix:/path.sock or tcp:HOST:PORT")
      ->required();
  sub->add_option("--connect-timeout", o->connect_timeout_s,
                  "Seconds to keep trying to reach the server")
      ->capture_default_str();
  return [o]() -> Status {
    auto address = ipc::Address::Parse(o->connect);
    if (!address.ok()) return address.status();
    const auto deadline = Clock::now() + std::chrono::duration<double>(o->connect_timeout_s);
    Result<ipc::Connection> conn = IoError("not connected");
    for (;;) {
      conn = ipc::Connection::Connect(*address, 2000);
      if (conn.ok() || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!conn.ok()) {
      std::fprintf(stderr, "easel worker llm: %s\n", conn.status().ToString().c_str());
      std::exit(lwp::kExitConnectFailed);
    }
    auto backend = llm::BuiltinBackend::Open(o->builtin);
    if (!backend.ok()) {
      (void)conn->Send(ErrorMessage(nullptr, backend.status()), kSendTimeoutMs);
      std::fprintf(stderr, "easel worker llm: %s\n", backend.status().ToString().c_str());
      std::exit(lwp::kExitLoadFailed);
    }
    const char* token = std::getenv(worker_protocol::kTokenEnv);
    const llm::BackendInfo info = (*backend)->Info();
    Status hello = conn->Send({{"type", "hello"},
                               {"token", token ? token : ""},
                               {"pid", static_cast<int64_t>(::getpid())},
                               {"model", info.model},
                               {"context_length", info.context_length},
                               {"weights_bytes", info.weights_bytes},
                               {"device", o->builtin.device}},
                              kSendTimeoutMs);
    if (!hello.ok()) return hello;
    LlmWorker worker(std::move(*conn), std::move(*backend));
    const int code = worker.Serve();
    if (code != 0) std::exit(code);
    return Status::Ok();
  };
}

}  // namespace easel::cli

// The built-in runtime in its own process: a ChatBackend that starts `easel worker llm` and
// talks to it over IPC (protocol: llm/llm_worker_protocol.h). The server uses it so that the
// language model's memory can be given back (a hard unload ends the process) and a crash in
// the runtime never takes the server down. Torch-free.
//
// Start-up: a Unix socket in a fresh 0700 temporary folder, a random token in the child's
// environment (EASEL_WORKER_TOKEN), the child spawned with --model/--device/--dtype/--context
// /--connect; its hello must carry the token and arrive within hello_timeout_ms (loading the
// model counts). A child that dies or fails to load gives the reason (its error message, or
// how it ended: "exited with status 4").
//
// Unload(false) asks the worker to drop its KV cache; Unload(true) shuts the worker down and
// waits for it to end; the next Chat() starts a new one. A worker that dies during a Chat()
// makes that Chat() fail with kIo naming how it ended; the next Chat() starts a new one.
//
// Thread-safety: one Chat() at a time (others wait); Cancel(), Unload() and Info() from any
// thread (Unload during a Chat() cancels it first).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llm/builtin_options.h"
#include "llm/chat_backend.h"
#include "server/ipc.h"

namespace easel::llm {

struct WorkerBackendOptions {
  BuiltinOptions builtin;
  std::string easel_binary;       // empty: this process's own executable (/proc/self/exe)
  std::vector<std::string> env;   // "NAME=value" added to the worker's environment
  int hello_timeout_ms = 300000;  // loading a large model on a CPU takes minutes
};

class WorkerBackend : public ChatBackend {
 public:
  // Starts the worker now and waits for its hello.
  static Result<std::unique_ptr<WorkerBackend>> Start(const WorkerBackendOptions& options);
  ~WorkerBackend() override;  // shuts the worker down (waits up to 5 s, then SIGKILL)

  Result<ChatResult> Chat(const ChatRequest& request, const DeltaFn& on_delta) override;
  void Cancel() override;
  Status Unload(bool hard) override;
  BackendInfo Info() const override;

  pid_t pid() const { return pid_; }  // -1 when no worker runs

 private:
  explicit WorkerBackend(WorkerBackendOptions options) : options_(std::move(options)) {}
  Status Spawn();                          // mu_ held
  void Stop(int grace_ms);                 // mu_ held: shutdown, wait, kill
  Status Died(const std::string& during);  // mu_ held: reaps, describes, forgets the worker

  WorkerBackendOptions options_;
  std::mutex mu_;  // held by Chat()/Unload()/Spawn()
  ipc::Connection conn_;
  pid_t pid_ = -1;
  std::string dir_;  // the socket's temporary folder
  std::atomic<bool> cancel_{false};
  std::mutex id_mu_;
  std::string running_id_;  // guarded by id_mu_
  uint64_t next_id_ = 0;
  mutable std::mutex info_mu_;
  BackendInfo info_;
};

}  // namespace easel::llm

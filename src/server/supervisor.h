// WorkerSupervisor: the server's image workers as child processes (`easel worker`), their IPC
// and their lifecycle. Torch-free: it only spawns processes and talks to them.
//
// Design: push with a small in-memory queue. Dispatch(job) returns at once; the job waits in
// the supervisor's FIFO until a worker of its device is idle (an idle worker that already has
// the job's model loaded is preferred), then runs there. The durable queue lives in the
// server's store; this queue only bridges the moments when every worker is busy, so the
// caller may dispatch as soon as it claims a job, or only when Idle() says a worker is free.
//
// Events (JSON objects, each with "type") go to the job's callback, in order:
//   started {job_id, worker_id}, then progress {job_id, step, total, seconds_per_step
//   [, preview]} per step, then exactly one terminal event:
//     done {job_id, images:[{path, seed, width, height, parameters, sidecar}], timings,
//           model_cached, model}
//     error {job_id, code, message}            the job failed (bad request, missing model ...)
//     cancelled {job_id [, forced]}            after Cancel(); forced when the worker had to
//                                              be killed because it did not stop in time
//     worker_died {job_id, worker_id, pid, exit_code, signal, reason}
//                                              the process ended mid-job: retry once, if wanted
//     aborted {job_id, reason}                 Shutdown() came first (the job did not finish)
// Every event relayed from a worker also carries "worker_id". Lifecycle events go to the
// supervisor's callback: worker_started {worker_id, pid}, worker_ready {worker_id, pid, device,
// dtype}, worker_died {worker_id, pid, exit_code, signal, reason [, job_id]},
// worker_failed {worker_id, attempts, reason} (given up: it died before saying hello
// max_start_failures times in a row).
//
// Restarts: a dead worker is started again after restart_delay_ms, doubling (up to
// max_restart_delay_ms) for each death in a row that came within healthy_uptime_ms of its
// start; a worker that dies before saying hello max_start_failures times in a row is failed
// for good (no hot loop). A worker that does not say hello within hello_timeout_ms, or whose
// connection closes or speaks garbage, is killed and handled like any dead one.
//
// Threads: the supervisor owns one I/O thread that owns every worker process and socket: it
// spawns (so PR_SET_PDEATHSIG ties workers to a thread that lives as long as the supervisor),
// accepts, reads, writes, reaps (waitpid on its own pids only, no SIGCHLD handler) and calls
// every callback, never with a lock held. Dispatch, Cancel, Idle, Workers and WaitForReady
// may be called from any thread, including from inside a callback (e.g. to retry a job after
// worker_died). Shutdown and the destructor must not be called from a callback.
// Callbacks must return quickly: they run on the I/O thread.
//
// Security: workers connect to a Unix socket in a private 0700 folder (or a given address)
// and must present the random token the supervisor passed in their environment; a
// connection with a wrong token or an unknown worker id is closed.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/status.h"

namespace easel::server {

using EventCallback = std::function<void(const nlohmann::json& event)>;

struct WorkerSpec {
  std::string device = "cpu";
  std::string dtype = "fp32";
};

struct SupervisorOptions {
  std::string easel_binary;             // the easel executable, run as `easel worker ...`
  std::vector<WorkerSpec> workers;      // one process each
  std::string listen_address;           // "" : unix socket in a private temp folder
  std::vector<std::string> worker_env;  // "NAME=value" added to the workers' environment
  int hello_timeout_ms = 60000;
  int restart_delay_ms = 500;
  int max_restart_delay_ms = 30000;
  int healthy_uptime_ms = 30000;
  int max_start_failures = 5;
  int cancel_kill_ms = 60000;    // a cancelled job still running after this: kill its worker
  int shutdown_grace_ms = 5000;  // Shutdown: "shutdown" message, then SIGTERM after this ...
  int term_grace_ms = 2000;      // ... then SIGKILL after this
};

enum class WorkerState {
  kStarting,    // spawned, no hello yet
  kIdle,        // said hello, no job
  kBusy,        // running a job
  kRestarting,  // died; starts again at its backoff time
  kFailed,      // died before hello too often: not restarted
  kStopped,     // Shutdown() ended it
};
const char* WorkerStateName(WorkerState state);

struct WorkerInfo {
  std::string id;  // "w0", "w1" ... in SupervisorOptions::workers order
  int pid = -1;    // -1 while not running
  WorkerState state = WorkerState::kStarting;
  std::string device, dtype;
  std::string job_id;        // the running job, if any
  std::string loaded_model;  // the model of its last successful job
  int restarts = 0;          // times it was started again after dying
  std::string last_exit;     // "killed by signal 9 (SIGKILL)" ...
};

class WorkerSupervisor {
 public:
  // Listens, starts the I/O thread, which spawns the workers. Returns before they are ready
  // (see WaitForReady). kInvalidArgument for no workers or a bad address, kIo when the
  // address cannot be listened on or the binary does not exist.
  static Result<std::unique_ptr<WorkerSupervisor>> Start(SupervisorOptions options,
                                                         EventCallback on_worker_event = nullptr);
  ~WorkerSupervisor();  // Shutdown()
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // Queues a job. `request` is the request JSON (engine/pipeline/request_json.h); a "device"
  // in it picks the workers that may run it. `on_event` gets the job's events (above) on the
  // I/O thread. kInvalidArgument for a bad or duplicate job id or a non-object request,
  // kNotFound when no live worker has the requested device, kCancelled after Shutdown().
  Status Dispatch(const std::string& job_id, const nlohmann::json& request,
                  const std::string& output_dir, EventCallback on_event);

  // Cancels a queued job (its callback gets "cancelled" at once) or a running one (the worker
  // stops at the next step and the callback gets "cancelled"). kNotFound for a job that is
  // not queued or running (finished already, or never dispatched).
  Status Cancel(const std::string& job_id);

  std::vector<WorkerInfo> Workers() const;
  int Idle() const;    // workers idle now
  int Queued() const;  // jobs waiting for a worker
  // Waits until `count` workers are idle, or every worker is failed; true when count reached.
  bool WaitForReady(int count, int timeout_ms) const;
  std::string address() const;  // what workers connect to

  // Stops: queued jobs -> aborted; workers get "shutdown" (a running job stops at its next
  // step -> aborted), then SIGTERM after shutdown_grace_ms, then SIGKILL after term_grace_ms.
  // Returns once every worker is reaped (no zombies) and the I/O thread has ended. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  explicit WorkerSupervisor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace easel::server

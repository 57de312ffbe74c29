// Orchestrator: the heart of `easel serve`. It joins the durable job queue (SQLite), the
// worker processes (WorkerSupervisor) and the image history, and fans events out to
// listeners (EventHub).
//
// Flow: an API handler calls Submit, which returns once the job is on disk (queued). One
// orchestrator thread claims queued jobs (priority, then age) while workers have room,
// resolves model names to paths (WorkerRequest) and dispatches them. Worker events come back
// on the supervisor's I/O thread; progress is fanned out at once (with previews), everything
// else is handed to the orchestrator thread, which records it:
//   done        images moved from <data>/tmp/<job> into <data>/images/<date>/<job>-<i>.png
//               with their JSON sidecars, each added to the history in one transaction with
//               its row and tags; then the job is completed with its result.
//   error       a request the engine refused (bad value, missing model, unsupported): failed
//               without a retry; other errors (i/o, out of memory) are retried once.
//   worker_died the job is retried once (JobQueue::Fail), then failed with the reason.
//   cancelled   the job is marked cancelled.
// Exactly once: a job is claimed by one dispatcher; after a crash RecoverAfterCrash re-queues
// running jobs before any worker starts; images are stored under names made from the job id,
// so a job that re-runs after its images were stored (a crash between history and queue
// commits) reuses them instead of adding duplicates.
//
// Thread-safety: every public method may be called from any thread (HTTP handlers).
// Shutdown (also run by the destructor) stops claiming, stops the workers (running jobs stay
// "running" on disk and are re-queued at the next start) and closes the hub.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/event_hub.h"
#include "server/job_request.h"
#include "server/model_catalog.h"
#include "server/supervisor.h"
#include "store/history.h"
#include "store/job_queue.h"
#include "util/status.h"

namespace easel::server {

struct OrchestratorOptions {
  std::string data_dir;      // holds easel.db, images/, inputs/, tmp/
  std::string easel_binary;  // for `easel worker`
  std::vector<WorkerSpec> workers = {WorkerSpec{}};
  int max_attempts = 2;  // claims per job: 2 is one retry
  std::string loras_dir, embeddings_dir;
  int hello_timeout_ms = 120000;
  std::vector<std::string> worker_env;
  // Called on the orchestrator thread right before a job goes to a worker, with its worker
  // request (model path, size, device): the language model yields memory here
  // (server/llm_manager.h). Must return quickly.
  std::function<void(const std::string& job_id, const nlohmann::json& worker_request)>
      before_dispatch;
};

// A running job's latest progress (in memory only).
struct LiveProgress {
  std::string job_id;
  std::string worker_id;
  int step = 0, total = 0;
  double seconds_per_step = 0;
  int64_t started_ms = 0;  // when the worker started it
  nlohmann::json preview;  // {mime, width, height, data} or null
};

class Orchestrator {
 public:
  // Opens the database under data_dir (creating folders), recovers jobs a previous server
  // left running, starts the workers and the dispatch thread.
  static Result<std::unique_ptr<Orchestrator>> Start(OrchestratorOptions options,
                                                     ModelCatalog* catalog);
  ~Orchestrator();
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  // Queues a job (durable when this returns OK).
  Result<store::Job> Submit(const JobSubmission& job);
  // Cancels a queued job at once or asks a running one to stop at its next step. An ended
  // job is returned unchanged.
  Result<store::Job> Cancel(const std::string& id);
  // Cancels every running job (A1111's interrupt); returns how many.
  int CancelRunning();

  Result<store::Job> Get(const std::string& id);
  Result<store::JobPage> List(const store::JobFilter& filter);
  Result<store::QueueStats> Stats();
  Result<std::vector<store::JobEvent>> Events(const std::string& id, int64_t since_seq = 0);
  // Waits until the job has ended (or timeout_ms passed, or Shutdown); returns it as it is.
  Result<store::Job> WaitForEnd(const std::string& id, int timeout_ms);

  std::vector<LiveProgress> Running() const;
  std::optional<LiveProgress> ProgressOf(const std::string& id) const;
  std::vector<WorkerInfo> Workers() const;
  bool Ready() const;  // at least one worker has said hello and is alive
  store::RecoveryReport recovery() const;

  EventHub& hub();
  store::History& history();
  const std::string& data_dir() const;

  void Shutdown();

 private:
  struct Impl;
  explicit Orchestrator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The public JSON of a job: {id, kind, state, priority, attempts, max_attempts, error,
// created_ms, started_ms, finished_ms, cancel_requested, request, tags, result}.
nlohmann::json JobToJson(const store::Job& job);

}  // namespace easel::server

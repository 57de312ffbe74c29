// The durable job queue: what a job is, its states, and the JobQueue interface the server
// and its workers use. Storage-neutral (no SQL here): SqliteJobQueue (sqlite_job_queue.h)
// is the first implementation; a PostgreSQL one can follow behind the same interface.
//
// States and transitions (anything else is refused with kInvalidArgument):
//
//   Submit ──> queued ──ClaimNext──> running ──Complete──────> succeeded
//                │  ^                   │  ├──Fail, attempts left──> queued (retry)
//                │  └──RecoverAfterCrash┘  ├──Fail, none left─────> failed (with the reason)
//                │                         └──MarkCancelled───────> cancelled
//                └──Cancel──> cancelled
//
// Cancel of a running job only sets cancel_requested: the worker sees it at its next step
// and calls MarkCancelled (or Complete, if it had already finished). Cancel of a job that
// has already ended changes nothing.
//
// Exactly once: a job accepted by Submit (it returned OK) is on disk; it is claimed by one
// worker at a time; it ends (succeeded, failed or cancelled) once, and an ended job never
// runs again. A job running when the server died is re-queued by RecoverAfterCrash, the
// attempt it was on counted, so a job that kills the server each time fails after
// max_attempts instead of looping. The server must make sure that no worker of the previous
// server can still report on a job before it calls RecoverAfterCrash.
//
// Every method is thread-safe and returns errors as values: kNotFound for an unknown id,
// kInvalidArgument for a transition the state forbids (the message says the state),
// kIo/kCorrupt for storage failures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::store {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

// "queued", "running", "succeeded", "failed", "cancelled": the names in the API and the db.
const char* JobStateName(JobState state);
std::optional<JobState> ParseJobState(std::string_view name);
// Succeeded, failed and cancelled: the job will never run again.
bool IsTerminal(JobState state);

struct Job {
  std::string id;    // "j_" + 16 hex digits
  std::string kind;  // "txt2img", "img2img", "inpaint", ...
  JobState state = JobState::kQueued;
  int priority = 0;          // higher runs first; equal priorities run oldest first
  std::string request_json;  // the request, as the API accepted it
  std::string result_json;   // set by Complete; "" until then
  int attempts = 0;          // claims so far (the running attempt included)
  int max_attempts = 2;      // claims allowed: 2 is one retry
  std::string error;         // the last failure's reason ("" if none)
  std::string worker;        // who runs or last ran it ("" if never claimed)
  int64_t created_ms = 0;    // milliseconds since the Unix epoch
  int64_t started_ms = 0;    // the last claim; 0 if never claimed
  int64_t finished_ms = 0;   // when it ended; 0 until then
  bool cancel_requested = false;
};

// Something that happened to a job, in order. The queue records the transitions itself
// (types "queued", "running", "retry", "recovered", "cancel_requested", "succeeded",
// "failed", "cancelled"); the server adds its own ("progress", "image", ...).
struct JobEvent {
  int64_t seq = 0;  // increasing across all jobs: ask for events after the last one seen
  std::string job_id;
  std::string type;
  std::string payload_json;  // a JSON object, "{}" when there is nothing to say
  int64_t created_ms = 0;
};

struct JobFilter {
  std::optional<JobState> state;  // all states when empty
  int limit = 50;                 // 1..1000
  int offset = 0;
};

struct JobPage {
  std::vector<Job> jobs;  // newest first
  int64_t total = 0;      // jobs matching the filter, all pages together
};

struct QueueStats {
  int64_t queued = 0, running = 0, succeeded = 0, failed = 0, cancelled = 0;
  int64_t Count(JobState state) const;
};

struct RecoveryReport {
  int requeued = 0;   // running jobs put back in the queue
  int failed = 0;     // running jobs that had used their last attempt
  int cancelled = 0;  // running jobs whose cancel had been requested
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Adds a queued job. When this returns OK the job is durable: it survives kill -9 and
  // power loss. `kind` is 1..32 of [a-z0-9_]; request_json is stored as given.
  virtual Result<Job> Submit(const std::string& kind, const std::string& request_json,
                             int priority = 0) = 0;

  // Atomically takes the highest-priority, then oldest, queued job whose kind is in `kinds`
  // (any kind when empty) and marks it running for `worker` (attempts + 1). Empty when no
  // job waits. Two callers never get the same job.
  virtual Result<std::optional<Job>> ClaimNext(const std::string& worker,
                                               const std::vector<std::string>& kinds = {}) = 0;

  // running -> succeeded, storing result_json.
  virtual Result<Job> Complete(const std::string& id, const std::string& result_json) = 0;
  // running -> queued when attempts < max_attempts (a retry; the error is kept), else
  // running -> failed with `error` as the reason. A job whose cancel was requested is
  // cancelled instead of retried.
  virtual Result<Job> Fail(const std::string& id, const std::string& error) = 0;
  // queued -> cancelled at once; running -> cancel_requested; ended: unchanged.
  virtual Result<Job> Cancel(const std::string& id) = 0;
  // running -> cancelled: the worker stopped after seeing cancel_requested.
  virtual Result<Job> MarkCancelled(const std::string& id) = 0;

  virtual Result<Job> Get(const std::string& id) = 0;
  virtual Result<JobPage> List(const JobFilter& filter) = 0;
  virtual Result<QueueStats> Stats() = 0;

  // Once per server start, before any worker claims: every running job goes back to queued
  // (or to failed when it has used its last attempt, or to cancelled when its cancel had
  // been requested). Calling it twice on one queue object is refused (kInvalidArgument):
  // the second call would re-queue jobs the new workers are running.
  virtual Result<RecoveryReport> RecoverAfterCrash() = 0;

  // Appends an event to a job (kNotFound for an unknown job). payload_json must be a JSON
  // object ("" means "{}"). Durable like everything else: an fsync per call, so throttle
  // high-rate progress before it gets here.
  virtual Result<JobEvent> AddEvent(const std::string& job_id, const std::string& type,
                                    const std::string& payload_json) = 0;
  // The job's events with seq > since_seq, oldest first, at most `limit` (1..10000).
  virtual Result<std::vector<JobEvent>> Events(const std::string& job_id, int64_t since_seq = 0,
                                               int limit = 1000) = 0;
};

}  // namespace easel::store

// Job state names and helpers (see job_queue.h).
#include "store/job_queue.h"

namespace easel::store {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled}) {
    if (name == JobStateName(s)) return s;
  }
  return std::nullopt;
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

int64_t QueueStats::Count(JobState state) const {
  switch (state) {
    case JobState::kQueued: return queued;
    case JobState::kRunning: return running;
    case JobState::kSucceeded: return succeeded;
    case JobState::kFailed: return failed;
    case JobState::kCancelled: return cancelled;
  }
  return 0;
}

}  // namespace easel::store

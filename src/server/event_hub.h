// EventHub: the in-memory fan-out of job events to Server-Sent-Event streams and synchronous
// waiters. The Orchestrator publishes (queued, started, progress with previews, succeeded,
// failed, cancelled, retry ...); each subscriber keeps its own cursor (the last seq it saw)
// and waits for newer events. Bounded: the last `capacity` events are kept; a subscriber that
// falls further behind skips the lost ones (progress is advisory: the durable history of a
// job is in the queue's event table).
//
// Thread-safe: any thread may publish or wait. Close() wakes every waiter for good.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace easel::server {

struct HubEvent {
  uint64_t seq = 0;  // 1, 2, 3 ... in publish order
  std::string job_id;
  std::string type;
  nlohmann::json data;  // includes "job_id" and "type"
};

class EventHub {
 public:
  explicit EventHub(size_t capacity = 4096) : capacity_(capacity) {}

  void Publish(const std::string& job_id, const std::string& type, nlohmann::json data);

  // Events with seq > after (oldest first, at most max), waiting up to timeout_ms for the first
  // one. Empty on timeout or once closed (see closed()).
  std::vector<HubEvent> WaitAfter(uint64_t after, int timeout_ms, size_t max = 256);
  uint64_t last_seq() const;
  // The seq of the oldest event still held for `job_id` of type `type`, or 0 if none.
  uint64_t FindFirst(const std::string& job_id, const std::string& type) const;
  void Close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<HubEvent> events_;  // guarded by mu_
  uint64_t next_seq_ = 1;        // guarded by mu_
  bool closed_ = false;          // guarded by mu_
  size_t capacity_;
};

}  // namespace easel::server

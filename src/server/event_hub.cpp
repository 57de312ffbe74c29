// EventHub: a bounded in-memory event log with blocking reads (see event_hub.h).
#include "server/event_hub.h"

#include <chrono>
#include <cstdint>

namespace easel::server {

void EventHub::Publish(const std::string& job_id, const std::string& type, nlohmann::json data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    HubEvent e;
    e.seq = next_seq_++;
    e.job_id = job_id;
    e.type = type;
    if (!data.is_object()) data = nlohmann::json::object();
    data["type"] = type;
    if (!job_id.empty()) data["job_id"] = job_id;
    e.data = std::move(data);
    events_.push_back(std::move(e));
    while (events_.size() > capacity_) events_.pop_front();
  }
  cv_.notify_all();
}

std::vector<HubEvent> EventHub::WaitAfter(uint64_t after, int timeout_ms, size_t max) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return closed_ || next_seq_ - 1 > after; });
  std::vector<HubEvent> out;
  if (closed_) return out;
  for (const HubEvent& e : events_) {
    if (e.seq <= after) continue;
    out.push_back(e);
    if (out.size() >= max) break;
  }
  return out;
}

uint64_t EventHub::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ - 1;
}

uint64_t EventHub::FindFirst(const std::string& job_id, const std::string& type) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const HubEvent& e : events_)
    if (e.job_id == job_id && e.type == type) return e.seq;
  return 0;
}

void EventHub::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventHub::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

}  // namespace easel::server

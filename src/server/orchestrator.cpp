// Orchestrator: queue <-> supervisor <-> history (see orchestrator.h).
#include "server/orchestrator.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store/ids.h"
#include "store/sqlite_history.h"
#include "store/sqlite_job_queue.h"

namespace easel::server {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json ParseOr(const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

std::string DateOf(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// Engine errors that another attempt cannot fix.
bool Permanent(const std::string& code) {
  return code == "invalid_argument" || code == "not_found" || code == "unsupported" ||
         code == "corrupt";
}

void Log(const std::string& line) {
  std::fprintf(stderr, "easel serve: %s\n", line.c_str());
}

}  // namespace

json JobToJson(const store::Job& job) {
  const json stored = ParseOr(job.request_json, json::object());
  json out = {{"id", job.id},
              {"kind", job.kind},
              {"state", store::JobStateName(job.state)},
              {"priority", job.priority},
              {"attempts", job.attempts},
              {"max_attempts", job.max_attempts},
              {"error", job.error.empty() ? json(nullptr) : json(job.error)},
              {"created_ms", job.created_ms},
              {"started_ms", job.started_ms},
              {"finished_ms", job.finished_ms},
              {"cancel_requested", job.cancel_requested},
              {"request", stored.value("request", json::object())},
              {"tags", stored.value("tags", json::array())},
              {"result", ParseOr(job.result_json, nullptr)}};
  return out;
}

struct Orchestrator::Impl {
  OrchestratorOptions options;
  ModelCatalog* catalog = nullptr;
  std::unique_ptr<store::SqliteJobQueue> queue;
  std::unique_ptr<store::SqliteHistory> history;
  std::unique_ptr<WorkerSupervisor> supervisor;
  EventHub hub;
  store::RecoveryReport recovery;
  std::thread thread;

  mutable std::mutex mu_;
  std::condition_variable cv_;                    // wakes the orchestrator thread
  std::condition_variable end_cv_;                // a job ended
  std::deque<json> inbox_;                        // worker events for the thread; guarded by mu_
  std::set<std::string> in_flight_;               // dispatched, not ended; guarded by mu_
  std::map<std::string, LiveProgress> live_;      // guarded by mu_
  std::map<std::string, std::string> fail_fast_;  // id -> reason; guarded by mu_
  bool wake_ = false, stopping_ = false;          // guarded by mu_
  std::mutex dispatch_mu_;                        // claim+dispatch vs cancel: one at a time

  std::string TmpDir(const std::string& id) const { return options.data_dir + "/tmp/" + id; }

  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_ = true;
    }
    cv_.notify_all();
  }

  void Ended(const std::string& id) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_.erase(id);
      live_.erase(id);
    }
    std::error_code ec;
    fs::remove_all(TmpDir(id), ec);
    end_cv_.notify_all();
    cv_.notify_all();
  }

  void AddEvent(const std::string& id, const std::string& type, const json& payload) {
    auto r =
        queue->AddEvent(id, type, payload.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!r.ok()) Log("cannot record event " + type + " of " + id + ": " + r.status().ToString());
  }

  // The outcome of a Fail: publish what became of the job.
  void AfterFail(const std::string& id, const Result<store::Job>& r, const std::string& reason) {
    if (!r.ok()) {
      Log("cannot fail job " + id + ": " + r.status().ToString());
      return;
    }
    if (r->state == store::JobState::kQueued) {
      hub.Publish(id, "retry", {{"reason", reason}, {"attempts", r->attempts}});
    } else {
      hub.Publish(id, store::JobStateName(r->state),
                  {{"error", r->error}, {"job", JobToJson(r.value())}});
    }
  }

  // Fails a running job without retry: when Fail re-queues it, the next claim fails it again.
  void FailForGood(const std::string& id, const std::string& reason) {
    auto r = queue->Fail(id, reason);
    if (r.ok() && r->state == store::JobState::kQueued) {
      std::lock_guard<std::mutex> lock(mu_);
      fail_fast_[id] = reason;
      wake_ = true;
    } else {
      AfterFail(id, r, reason);
    }
    Ended(id);
  }

  int Capacity() const {
    int live = 0;
    for (const WorkerInfo& w : supervisor->Workers())
      if (w.state != WorkerState::kFailed && w.state != WorkerState::kStopped) ++live;
    std::lock_guard<std::mutex> lock(mu_);
    return live - static_cast<int>(in_flight_.size());
  }

  void OnWorkerEvent(const json& e) {
    const std::string type = e.value("type", "");
    if (type == "progress") {
      const std::string id = e.value("job_id", "");
      json data = {{"step", e.value("step", 0)},
                   {"total", e.value("total", 0)},
                   {"seconds_per_step", e.value("seconds_per_step", 0.0)}};
      if (e.contains("preview")) data["preview"] = e["preview"];
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = live_.find(id);
        if (it != live_.end()) {
          it->second.step = data["step"];
          it->second.total = data["total"];
          it->second.seconds_per_step = data["seconds_per_step"];
          if (e.contains("preview")) it->second.preview = e["preview"];
        }
      }
      hub.Publish(id, "progress", std::move(data));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      inbox_.push_back(e);
    }
    cv_.notify_all();
  }

  void HandleDone(const std::string& id, const json& e) {
    auto job = queue->Get(id);
    if (!job.ok()) {
      Log("done for an unknown job " + id + ": " + job.status().ToString());
      return;
    }
    const json stored = ParseOr(job->request_json, json::object());
    const json req = stored.value("request", json::object());
    std::vector<std::string> tags;
    for (const json& t : stored.value("tags", json::array()))
      if (t.is_string()) tags.push_back(t);
    json images = json::array();
    store::ImageFilters filters;
    filters.job_id = id;
    auto existing = history->Search("", filters, 500, 0);
    if (existing.ok() && existing->total > 0) {
      // An earlier attempt stored its images, then the server died before completing the job.
      for (auto it = existing->images.rbegin(); it != existing->images.rend(); ++it)
        images.push_back({{"id", it->id},
                          {"url", "/api/v1/images/" + it->id + "/file"},
                          {"seed", it->seed},
                          {"width", it->width},
                          {"height", it->height}});
    } else {
      const std::string date = DateOf(job->created_ms);
      const json produced = e.value("images", json::array());
      for (size_t i = 0; i < produced.size(); ++i) {
        const json& img = produced[i];
        const std::string base = "images/" + date + "/" + id + "-" + std::to_string(i);
        store::ImageRecord rec;
        rec.job_id = id;
        rec.path = base + ".png";
        rec.width = img.value("width", 0);
        rec.height = img.value("height", 0);
        rec.seed = img.value("seed", int64_t{0});
        rec.prompt = req.value("prompt", "");
        rec.negative_prompt = req.value("negative_prompt", "");
        rec.model = req.value("model", "");
        rec.sampler = req.value("sampler_name", "euler");
        rec.scheduler = req.value("scheduler", "normal");
        rec.steps = req.value("steps", 20);
        rec.cfg = req.value("cfg_scale", 7.0);
        rec.loras = req.value("loras", json::array()).dump();
        rec.tags = tags;
        json params = req;
        params["seed"] = rec.seed;
        params["parameters"] = img.value("parameters", "");
        rec.params_json = params.dump(-1, ' ', false, json::error_handler_t::replace);
        rec.timings_json = e.value("timings", json::object()).dump();
        const std::string src = img.value("path", ""), src_sidecar = img.value("sidecar", "");
        const std::string dst = options.data_dir + "/" + rec.path;
        const std::string dst_sidecar = options.data_dir + "/" + base + ".json";
        auto added = history->AddWithFile(
            rec,
            [&]() -> Status {
              std::error_code ec;
              fs::create_directories(fs::path(dst).parent_path(), ec);
              if (ec)
                return IoError("cannot create " + fs::path(dst).parent_path().string() + ": " +
                               ec.message());
              fs::rename(src, dst, ec);
              if (ec) return IoError("cannot move " + src + " to " + dst + ": " + ec.message());
              if (!src_sidecar.empty()) fs::rename(src_sidecar, dst_sidecar, ec);
              return Status::Ok();
            },
            {base + ".json"});
        if (!added.ok()) {
          const std::string reason =
              "cannot store image " + std::to_string(i) + ": " + added.status().message();
          AfterFail(id, queue->Fail(id, reason), reason);
          Ended(id);
          return;
        }
        images.push_back({{"id", added->id},
                          {"url", "/api/v1/images/" + added->id + "/file"},
                          {"seed", added->seed},
                          {"width", added->width},
                          {"height", added->height},
                          {"parameters", img.value("parameters", "")}});
        AddEvent(id, "image", {{"image_id", added->id}, {"seed", added->seed}});
      }
    }
    json model = e.value("model", json::object());
    model.erase("path");  // the server's file layout is not the client's business
    model["name"] = req.value("model", "");
    const json result = {
        {"images", images}, {"timings", e.value("timings", json::object())}, {"model", model}};
    auto done = queue->Complete(id, result.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!done.ok()) {
      Log("cannot complete job " + id + ": " + done.status().ToString());
    } else {
      hub.Publish(id, "succeeded", {{"job", JobToJson(*done)}});
    }
    Ended(id);
  }

  void HandleEvent(const json& e) {
    const std::string type = e.value("type", "");
    const std::string id =
        e.contains("job_id") && e["job_id"].is_string() ? e["job_id"].get<std::string>() : "";
    if (id.empty()) {  // a worker lifecycle event
      hub.Publish("", "worker", e);
      return;
    }
    if (type == "started") {
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = live_.find(id);
        if (it != live_.end()) {
          it->second.worker_id = e.value("worker_id", "");
          it->second.started_ms = store::NowMs();
        }
      }
      AddEvent(id, "started", {{"worker_id", e.value("worker_id", "")}});
      hub.Publish(id, "started", {{"worker_id", e.value("worker_id", "")}});
    } else if (type == "done") {
      HandleDone(id, e);
    } else if (type == "error") {
      const std::string code = e.value("code", "internal");
      const std::string reason = e.value("message", "the worker failed") + " (" + code + ")";
      AddEvent(id, "error", {{"code", code}, {"message", e.value("message", "")}});
      if (Permanent(code)) {
        FailForGood(id, reason);
      } else {
        AfterFail(id, queue->Fail(id, reason), reason);
        Ended(id);
      }
    } else if (type == "cancelled") {
      auto c = queue->Cancel(id);  // a forced cancel or a shutdown may not have asked first
      auto r = queue->MarkCancelled(id);
      if (r.ok()) {
        hub.Publish(id, "cancelled", {{"job", JobToJson(*r)}});
      } else if (c.ok()) {
        Log("cannot mark job " + id + " cancelled: " + r.status().ToString());
      }
      Ended(id);
    } else if (type == "worker_died") {
      const std::string reason =
          "the worker running it died (" + e.value("reason", std::string("unknown")) + ")";
      AfterFail(id, queue->Fail(id, reason), reason);
      Ended(id);
    } else if (type == "aborted") {
      // Shutdown: the job stays "running" on disk and is re-queued at the next start.
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_.erase(id);
      live_.erase(id);
    }
  }

  void DispatchAvailable() {
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
    while (Capacity() > 0) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      auto claim = queue->ClaimNext("easel-serve");
      if (!claim.ok()) {
        Log("cannot claim a job: " + claim.status().ToString());
        return;
      }
      if (!claim->has_value()) return;
      const store::Job job = **claim;
      std::string fail_reason;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto ff = fail_fast_.find(job.id);
        if (ff != fail_fast_.end()) {
          fail_reason = ff->second;
          fail_fast_.erase(ff);
        }
      }
      if (!fail_reason.empty()) {
        FailForGood(job.id, fail_reason);
        continue;
      }
      WorkerContext wctx{catalog, options.data_dir, options.loras_dir, options.embeddings_dir};
      auto wreq = WorkerRequest(ParseOr(job.request_json, json::object()), wctx);
      if (!wreq.ok()) {
        FailForGood(job.id, wreq.status().message());
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        in_flight_.insert(job.id);
        LiveProgress p;
        p.job_id = job.id;
        p.total = wreq->value("steps", 20);
        p.preview = nullptr;
        live_[job.id] = p;
      }
      hub.Publish(job.id, "running", {{"attempt", job.attempts}});
      if (options.before_dispatch) options.before_dispatch(job.id, *wreq);
      Status st = supervisor->Dispatch(job.id, *wreq, TmpDir(job.id),
                                       [this](const json& ev) { OnWorkerEvent(ev); });
      if (!st.ok()) FailForGood(job.id, "cannot start the job: " + st.message());
    }
  }

  void Loop() {
    for (;;) {
      std::deque<json> events;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(250),
                     [&] { return stopping_ || wake_ || !inbox_.empty(); });
        if (stopping_) return;
        events.swap(inbox_);
        wake_ = false;
      }
      for (const json& e : events) {
        Status st = CatchAll([&] { HandleEvent(e); });
        if (!st.ok()) Log("event " + e.dump() + " failed: " + st.ToString());
      }
      Status st = CatchAll([&] { DispatchAvailable(); });
      if (!st.ok()) Log("dispatch failed: " + st.ToString());
    }
  }
};

Orchestrator::Orchestrator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Orchestrator::~Orchestrator() {
  Shutdown();
}

Result<std::unique_ptr<Orchestrator>> Orchestrator::Start(OrchestratorOptions options,
                                                          ModelCatalog* catalog) {
  auto impl = std::make_unique<Impl>();
  impl->catalog = catalog;
  const std::string& data = options.data_dir;
  std::error_code ec;
  for (const char* sub : {"images", "inputs", "tmp"}) {
    fs::create_directories(fs::path(data) / sub, ec);
    if (ec)
      return IoError("cannot create " + data + "/" + sub + ": " + ec.message() +
                     " (check --data-dir)");
  }
  // Leftovers of jobs that were running when the last server stopped: they run again.
  for (const auto& entry : fs::directory_iterator(fs::path(data) / "tmp", ec))
    fs::remove_all(entry.path(), ec);
  store::SqliteJobQueueOptions qopts;
  qopts.max_attempts = options.max_attempts;
  auto queue = store::SqliteJobQueue::Open(data + "/easel.db", qopts);
  if (!queue.ok()) return queue.status();
  impl->queue = std::move(*queue);
  auto history = store::SqliteHistory::Open(data + "/easel.db", data);
  if (!history.ok()) return history.status();
  impl->history = std::move(*history);
  // No worker of a previous server can report any more (they died with it, or lost their
  // socket), so running jobs go back to the queue before our workers start.
  auto recovery = impl->queue->RecoverAfterCrash();
  if (!recovery.ok()) return recovery.status();
  impl->recovery = *recovery;
  if (recovery->requeued + recovery->failed + recovery->cancelled > 0)
    Log("recovered after a crash: " + std::to_string(recovery->requeued) + " job(s) re-queued, " +
        std::to_string(recovery->failed) + " failed, " + std::to_string(recovery->cancelled) +
        " cancelled");

  SupervisorOptions sopts;
  sopts.easel_binary = options.easel_binary;
  sopts.workers = options.workers;
  sopts.worker_env = options.worker_env;
  // The workers find model hashes in this data dir's library (library/model_hash.h).
  if (!options.data_dir.empty() &&
      std::none_of(sopts.worker_env.begin(), sopts.worker_env.end(),
                   [](const std::string& e) { return e.rfind("EASEL_DATA_DIR=", 0) == 0; }))
    sopts.worker_env.push_back("EASEL_DATA_DIR=" + options.data_dir);
  sopts.hello_timeout_ms = options.hello_timeout_ms;
  Impl* self = impl.get();
  auto supervisor = WorkerSupervisor::Start(sopts, [self](const json& e) {
    self->hub.Publish("", "worker", e);
    self->Wake();
  });
  if (!supervisor.ok()) return supervisor.status();
  impl->supervisor = std::move(*supervisor);
  impl->options = std::move(options);
  impl->thread = std::thread([self] { self->Loop(); });
  return std::unique_ptr<Orchestrator>(new Orchestrator(std::move(impl)));
}

Result<store::Job> Orchestrator::Submit(const JobSubmission& job) {
  auto r = impl_->queue->Submit(
      job.kind, job.stored.dump(-1, ' ', false, json::error_handler_t::replace), job.priority);
  if (!r.ok()) return r;
  impl_->hub.Publish(r->id, "queued", {{"kind", r->kind}, {"priority", r->priority}});
  impl_->Wake();
  return r;
}

Result<store::Job> Orchestrator::Cancel(const std::string& id) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> dispatch(s.dispatch_mu_);
  auto before = s.queue->Get(id);
  if (!before.ok()) return before;
  auto r = s.queue->Cancel(id);
  if (!r.ok()) return r;
  if (before->state == store::JobState::kQueued && r->state == store::JobState::kCancelled) {
    s.hub.Publish(id, "cancelled", {{"job", JobToJson(*r)}});
    s.end_cv_.notify_all();
  } else if (r->state == store::JobState::kRunning) {
    Status st = s.supervisor->Cancel(id);
    if (!st.ok() && st.code() != Code::kNotFound) return st;
    s.hub.Publish(id, "cancel_requested", json::object());
  }
  return r;
}

int Orchestrator::CancelRunning() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(impl_->mu_);
    for (const auto& [id, p] : impl_->live_) ids.push_back(id);
  }
  int n = 0;
  for (const std::string& id : ids)
    if (Cancel(id).ok()) ++n;
  return n;
}

Result<store::Job> Orchestrator::Get(const std::string& id) {
  return impl_->queue->Get(id);
}
Result<store::JobPage> Orchestrator::List(const store::JobFilter& f) {
  return impl_->queue->List(f);
}
Result<store::QueueStats> Orchestrator::Stats() {
  return impl_->queue->Stats();
}
Result<std::vector<store::JobEvent>> Orchestrator::Events(const std::string& id, int64_t since) {
  return impl_->queue->Events(id, since, 10000);
}

Result<store::Job> Orchestrator::WaitForEnd(const std::string& id, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto job = impl_->queue->Get(id);
    if (!job.ok() || store::IsTerminal(job->state)) return job;
    std::unique_lock<std::mutex> lock(impl_->mu_);
    if (impl_->stopping_ || std::chrono::steady_clock::now() >= deadline) return job;
    impl_->end_cv_.wait_for(lock, std::chrono::milliseconds(500));
  }
}

std::vector<LiveProgress> Orchestrator::Running() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  std::vector<LiveProgress> out;
  for (const auto& [id, p] : impl_->live_) out.push_back(p);
  return out;
}

std::optional<LiveProgress> Orchestrator::ProgressOf(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  auto it = impl_->live_.find(id);
  if (it == impl_->live_.end()) return std::nullopt;
  return it->second;
}

std::vector<WorkerInfo> Orchestrator::Workers() const {
  return impl_->supervisor->Workers();
}

bool Orchestrator::Ready() const {
  for (const WorkerInfo& w : impl_->supervisor->Workers())
    if (w.state == WorkerState::kIdle || w.state == WorkerState::kBusy) return true;
  return false;
}

store::RecoveryReport Orchestrator::recovery() const {
  return impl_->recovery;
}
EventHub& Orchestrator::hub() {
  return impl_->hub;
}
store::History& Orchestrator::history() {
  return *impl_->history;
}
const std::string& Orchestrator::data_dir() const {
  return impl_->options.data_dir;
}

void Orchestrator::Shutdown() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mu_);
    if (s.stopping_ && !s.thread.joinable()) return;
    s.stopping_ = true;
  }
  s.cv_.notify_all();
  s.end_cv_.notify_all();
  if (s.thread.joinable()) s.thread.join();
  if (s.supervisor) s.supervisor->Shutdown();
  s.hub.Close();
}

}  // namespace easel::server

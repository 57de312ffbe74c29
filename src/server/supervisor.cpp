// WorkerSupervisor (see supervisor.h): one I/O thread running a poll loop over a wake pipe, the
// listening socket, connections that have not said hello yet, and one connection per worker.
// All state sits under one mutex; the I/O thread takes it for each pass of the loop and drops
// it to wait and to call callbacks (queued in `outbox` while the lock is held).
#include "server/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "server/ipc.h"
#include "server/process.h"
#include "server/worker_protocol.h"
#include "util/files.h"

namespace easel::server {
namespace {

namespace wp = worker_protocol;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kSendTimeoutMs = 5000;     // a worker that reads nothing for 5 s is broken
constexpr int kTickMs = 50;              // the loop's longest sleep: timers are this precise
constexpr int kKillAfterCloseMs = 3000;  // a worker whose socket closed but that lives on
constexpr size_t kMaxPending = 64;       // connections that have not said hello yet

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// msg[key] when it is a string, else "" (workers' messages are checked, never trusted).
std::string StringField(const json& msg, const char* key) {
  if (!msg.is_object()) return "";
  auto it = msg.find(key);
  return it != msg.end() && it->is_string() ? it->get<std::string>() : "";
}

struct Slot {
  std::string id;
  WorkerSpec spec;
  WorkerState state = WorkerState::kStarting;
  pid_t pid = -1;
  ipc::Connection conn;
  bool said_hello = false;
  bool kill_sent = false;
  std::string kill_reason;   // why the supervisor killed it, for the death report
  std::string device_error;  // what the worker said before exiting with kExitDeviceUnusable
  Clock::time_point started_at, restart_at, conn_closed_at;
  bool conn_closed = false;  // the connection ended while the process still ran
  std::string job_id;
  std::string loaded_model;
  int restarts = 0;
  int start_failures = 0;  // deaths before hello, in a row
  int quick_deaths = 0;    // deaths within healthy_uptime_ms of the start, in a row
  std::string last_exit;
};

struct Job {
  std::string id;
  json request;
  std::string output_dir;
  std::string device;  // "" : any worker
  std::string model;
  EventCallback cb;
  int slot = -1;  // running on slots[slot]; -1 while queued
  bool cancel_requested = false;
  bool cancel_sent = false;
  Clock::time_point cancel_sent_at;
};

struct Pending {
  ipc::Connection conn;
  Clock::time_point since;
};

}  // namespace

const char* WorkerStateName(WorkerState s) {
  switch (s) {
    case WorkerState::kStarting: return "starting";
    case WorkerState::kIdle: return "idle";
    case WorkerState::kBusy: return "busy";
    case WorkerState::kRestarting: return "restarting";
    case WorkerState::kFailed: return "failed";
    case WorkerState::kStopped: return "stopped";
  }
  return "unknown";
}

struct WorkerSupervisor::Impl {
  SupervisorOptions opt;
  EventCallback on_worker_event;
  std::string token;
  std::string temp_dir;  // private folder of the default unix socket; removed at the end
  ipc::Listener listener;
  ipc::Fd wake_r, wake_w;
  std::thread thread;
  std::mutex shutdown_mu;  // serialises Shutdown()
  bool joined = false;     // guarded by shutdown_mu

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // signalled when a worker becomes idle or fails
  std::vector<Slot> slots;             // guarded by mu
  std::map<std::string, Job> jobs;     // guarded by mu: queued and running jobs
  std::deque<std::string> queue;       // guarded by mu: ids of queued jobs, FIFO
  std::vector<std::pair<EventCallback, json>> outbox;  // guarded by mu; fired by the I/O thread
  bool stopping = false;                               // guarded by mu
  std::vector<Pending> pending;  // I/O thread only: connections before their hello

  ~Impl() {
    listener = ipc::Listener();  // removes the socket file
    if (!temp_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(temp_dir, ec);
    }
  }

  void Wake() {
    const char b = 1;
    ssize_t ignored = ::write(wake_w.get(), &b, 1);  // a full pipe already means "awake"
    (void)ignored;
  }

  void Emit(const EventCallback& cb, json event) {
    if (cb) outbox.emplace_back(cb, std::move(event));
  }

  // I/O thread, without mu.
  void FireOutbox() {
    std::vector<std::pair<EventCallback, json>> events;
    {
      std::lock_guard<std::mutex> lock(mu);
      events.swap(outbox);
    }
    for (auto& [cb, ev] : events) cb(ev);
  }

  // ---- everything below: I/O thread, mu held ----

  void Kill(Slot& s, int sig, const std::string& reason) {
    if (s.pid <= 0) return;
    if (sig == SIGKILL) {
      if (s.kill_sent) return;
      s.kill_sent = true;
    }
    if (s.kill_reason.empty()) s.kill_reason = reason;
    ::kill(s.pid, sig);
  }

  void Spawn(size_t i) {
    Slot& s = slots[i];
    s.said_hello = false;
    s.kill_sent = false;
    s.kill_reason.clear();
    s.device_error.clear();
    s.conn = ipc::Connection();
    s.conn_closed = false;
    s.job_id.clear();
    s.loaded_model.clear();
    process::SpawnOptions so;
    so.path = opt.easel_binary;
    so.args = {"worker",      "--connect", listener.address().ToString(),
               "--worker-id", s.id,        "--device",
               s.spec.device, "--dtype",   s.spec.dtype};
    so.env = opt.worker_env;
    so.env.push_back(std::string(wp::kTokenEnv) + "=" + token);
    s.started_at = Clock::now();
    auto pid = process::Spawn(so);
    if (!pid.ok()) {
      s.pid = -1;
      AfterDeath(i, pid.status().message());
      return;
    }
    s.pid = *pid;
    s.state = WorkerState::kStarting;
    Emit(on_worker_event, {{"type", "worker_started"}, {"worker_id", s.id}, {"pid", s.pid}});
  }

  // A worker ended (or never started): restart it after its backoff, or give up.
  void AfterDeath(size_t i, const std::string& reason) {
    Slot& s = slots[i];
    if (stopping) {
      s.state = WorkerState::kStopped;
      return;
    }
    const bool quick = MsSince(s.started_at) < opt.healthy_uptime_ms;
    s.quick_deaths = quick ? s.quick_deaths + 1 : 0;
    s.start_failures = s.said_hello ? 0 : s.start_failures + 1;
    if (s.start_failures >= opt.max_start_failures) {
      s.state = WorkerState::kFailed;
      Emit(on_worker_event, {{"type", "worker_failed"},
                             {"worker_id", s.id},
                             {"attempts", s.start_failures},
                             {"reason", reason}});
      FailOrphanedJobs(reason);
      cv.notify_all();
      return;
    }
    int64_t delay = opt.restart_delay_ms;
    for (int k = 1; k < s.quick_deaths && delay < opt.max_restart_delay_ms; ++k) delay *= 2;
    delay = std::min<int64_t>(delay, opt.max_restart_delay_ms);
    s.state = WorkerState::kRestarting;
    ++s.restarts;
    s.restart_at = Clock::now() + std::chrono::milliseconds(delay);
  }

  bool SlotCanServe(const Slot& s, const std::string& device) const {
    return s.state != WorkerState::kFailed && s.state != WorkerState::kStopped &&
           (device.empty() || s.spec.device == device);
  }

  // Queued jobs that no live worker can run any more fail now instead of waiting forever.
  void FailOrphanedJobs(const std::string& reason) {
    for (auto it = queue.begin(); it != queue.end();) {
      Job& job = jobs[*it];
      bool any = false;
      for (const Slot& s : slots) any = any || SlotCanServe(s, job.device);
      if (any) {
        ++it;
        continue;
      }
      Emit(job.cb, {{"type", "error"},
                    {"job_id", job.id},
                    {"code", wp::CodeId(Code::kUnsupported)},
                    {"message", "no worker can run this job: the worker" +
                                    std::string(job.device.empty() ? "s" : "s for " + job.device) +
                                    " failed to start (" + reason + ")"}});
      jobs.erase(job.id);
      it = queue.erase(it);
    }
  }

  void OnDeath(size_t i, int wait_status) {
    Slot& s = slots[i];
    const int old_pid = s.pid;
    s.pid = -1;
    s.conn.Close();
    s.last_exit = process::DescribeExit(wait_status);
    const int code = process::ExitCodeOf(wait_status);
    const int sig = process::SignalOf(wait_status);
    std::string reason = s.last_exit;
    if (code == wp::kExitDeviceUnusable)
      reason = "the device " + s.spec.device + " is unusable" +
               (s.device_error.empty() ? "" : ": " + s.device_error) + " (" + s.last_exit + ")";
    else if (!s.device_error.empty())
      reason = s.device_error + " (" + s.last_exit + ")";
    if (!s.kill_reason.empty()) reason = s.kill_reason + " (" + s.last_exit + ")";
    if (!s.said_hello) reason = "it ended before saying hello: " + reason;
    json report = {{"type", "worker_died"},
                   {"worker_id", s.id},
                   {"pid", old_pid},
                   {"exit_code", code >= 0 ? json(code) : json(nullptr)},
                   {"signal", sig > 0 ? json(sig) : json(nullptr)},
                   {"reason", reason}};
    if (!s.job_id.empty()) {
      auto it = jobs.find(s.job_id);
      if (it != jobs.end()) {
        Job& job = it->second;
        json ev = report;
        ev["job_id"] = job.id;
        if (stopping) {
          ev = {{"type", "aborted"}, {"job_id", job.id}, {"reason", "shutdown"}};
        } else if (job.cancel_requested) {
          ev = {{"type", "cancelled"}, {"job_id", job.id}, {"worker_id", s.id}, {"forced", true}};
        }
        Emit(job.cb, ev);
        jobs.erase(it);
      }
      report["job_id"] = s.job_id;
      s.job_id.clear();
    }
    s.loaded_model.clear();
    Emit(on_worker_event, report);
    AfterDeath(i, reason);
  }

  void OnWorkerMessage(size_t i, const json& msg) {
    Slot& s = slots[i];
    const std::string type = StringField(msg, "type");
    const std::string job_id = StringField(msg, "job_id");
    if (type == "pong") return;
    const bool known =
        type == "progress" || type == "done" || type == "error" || type == "cancelled";
    if (!known || s.job_id.empty() || job_id != s.job_id) {
      // Not about the running job: a late answer, or a complaint about a message we sent.
      json ev = {{"type", "worker_message"}, {"worker_id", s.id}, {"message", msg}};
      Emit(on_worker_event, ev);
      return;
    }
    auto it = jobs.find(job_id);
    if (it == jobs.end()) return;
    Job& job = it->second;
    json ev = msg;
    ev["worker_id"] = s.id;
    if (type == "progress") {
      Emit(job.cb, ev);
      return;
    }
    if (type == "done") s.loaded_model = job.model;
    if (type == "cancelled" && stopping && !job.cancel_requested)
      ev = {{"type", "aborted"}, {"job_id", job.id}, {"reason", "shutdown"}};
    Emit(job.cb, ev);
    jobs.erase(it);
    s.job_id.clear();
    if (s.state == WorkerState::kBusy) s.state = WorkerState::kIdle;
    cv.notify_all();
  }

  // Reads every whole message a worker has sent.
  void ReadWorker(size_t i) {
    Slot& s = slots[i];
    while (s.conn.connected()) {
      auto r = s.conn.Poll();
      if (!r.ok()) {
        Kill(s, SIGKILL, "it sent a malformed message: " + r.status().message());
        s.conn.Close();
        break;
      }
      if (r->state == ipc::RecvState::kTimeout) break;
      if (r->state == ipc::RecvState::kClosed) {
        s.conn.Close();
        s.conn_closed = true;
        s.conn_closed_at = Clock::now();
        break;
      }
      OnWorkerMessage(i, r->message);
    }
  }

  void OnPendingMessage(Pending& p, const json& msg, bool* keep) {
    *keep = false;
    const std::string id = StringField(msg, "worker_id");
    const std::string type = StringField(msg, "type");
    if (id.empty()) return;
    for (Slot& s : slots) {
      if (s.id != id || s.state != WorkerState::kStarting || s.conn.connected()) continue;
      if (type == "device_error") {
        s.device_error = StringField(msg, "message");
        return;
      }
      if (type != "hello") return;
      const bool token_ok = StringField(msg, "token") == token;
      const bool pid_ok = msg.contains("pid") && msg["pid"].is_number_integer() &&
                          msg["pid"].get<int64_t>() == s.pid;
      if (!token_ok || !pid_ok) return;  // not the process we started
      s.conn = std::move(p.conn);
      s.said_hello = true;
      s.state = WorkerState::kIdle;
      Emit(on_worker_event, {{"type", "worker_ready"},
                             {"worker_id", s.id},
                             {"pid", s.pid},
                             {"device", s.spec.device},
                             {"dtype", s.spec.dtype}});
      cv.notify_all();
      return;
    }
  }

  void ReadPending() {
    for (auto it = pending.begin(); it != pending.end();) {
      bool keep = true;
      for (;;) {
        auto r = it->conn.Poll();
        if (!r.ok() || r->state == ipc::RecvState::kClosed) {
          keep = false;
          break;
        }
        if (r->state == ipc::RecvState::kTimeout) {
          keep = MsSince(it->since) < opt.hello_timeout_ms;
          break;
        }
        OnPendingMessage(*it, r->message, &keep);
        break;  // one message decides a pending connection's fate
      }
      it = keep ? it + 1 : pending.erase(it);
    }
  }

  void Reap() {
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (s.pid <= 0) continue;
      auto st = process::TryReap(s.pid);
      if (!st) {
        if (s.conn_closed && MsSince(s.conn_closed_at) > kKillAfterCloseMs)
          Kill(s, SIGKILL, "its connection closed but it did not exit");
        continue;
      }
      ReadWorker(i);  // what it wrote before ending (a "done" may be there)
      OnDeath(i, *st);
    }
  }

  void Timers() {
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (s.state == WorkerState::kStarting && s.pid > 0 &&
          MsSince(s.started_at) > opt.hello_timeout_ms)
        Kill(s, SIGKILL,
             "it did not say hello within " + std::to_string(opt.hello_timeout_ms) + " ms");
      if (s.state == WorkerState::kRestarting && Clock::now() >= s.restart_at && !stopping)
        Spawn(i);
    }
    for (auto& [id, job] : jobs) {
      if (job.slot < 0 || !job.cancel_requested) continue;
      Slot& s = slots[static_cast<size_t>(job.slot)];
      if (s.job_id != id) continue;
      if (!job.cancel_sent) {
        job.cancel_sent = true;
        job.cancel_sent_at = Clock::now();
        Status st = s.conn.Send({{"type", "cancel"}, {"job_id", id}}, kSendTimeoutMs);
        if (!st.ok()) Kill(s, SIGKILL, "it did not take a cancel: " + st.message());
      } else if (MsSince(job.cancel_sent_at) > opt.cancel_kill_ms) {
        Kill(
            s, SIGKILL,
            "it did not stop a cancelled job within " + std::to_string(opt.cancel_kill_ms) + " ms");
      }
    }
  }

  void Assign() {
    for (auto it = queue.begin(); it != queue.end();) {
      Job& job = jobs[*it];
      int best = -1;
      for (size_t i = 0; i < slots.size(); ++i) {
        const Slot& s = slots[i];
        if (s.state != WorkerState::kIdle || !s.conn.connected()) continue;
        if (!job.device.empty() && s.spec.device != job.device) continue;
        if (best < 0 || (!job.model.empty() && s.loaded_model == job.model &&
                         slots[static_cast<size_t>(best)].loaded_model != job.model))
          best = static_cast<int>(i);
      }
      if (best < 0) {
        ++it;
        continue;
      }
      Slot& s = slots[static_cast<size_t>(best)];
      Status st = s.conn.Send({{"type", "run"},
                               {"job_id", job.id},
                               {"request", job.request},
                               {"output_dir", job.output_dir}},
                              kSendTimeoutMs);
      if (!st.ok()) {  // the worker is broken; the job waits for another
        Kill(s, SIGKILL, "it did not take a job: " + st.message());
        s.state = WorkerState::kStarting;  // not idle any more; Reap() takes it from here
        continue;
      }
      s.state = WorkerState::kBusy;
      s.job_id = job.id;
      job.slot = best;
      Emit(job.cb, {{"type", "started"}, {"job_id", job.id}, {"worker_id", s.id}});
      it = queue.erase(it);
    }
  }

  // ---- the I/O thread ----

  void Run() {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < slots.size(); ++i) Spawn(i);
    }
    FireOutbox();
    for (;;) {
      std::vector<pollfd> fds;
      {
        std::lock_guard<std::mutex> lock(mu);
        fds.push_back({wake_r.get(), POLLIN, 0});
        fds.push_back({listener.fd(), POLLIN, 0});
        for (const Pending& p : pending) fds.push_back({p.conn.fd(), POLLIN, 0});
        for (const Slot& s : slots)
          if (s.conn.connected()) fds.push_back({s.conn.fd(), POLLIN, 0});
      }
      ::poll(fds.data(), fds.size(), kTickMs);
      char buf[64];
      while (::read(wake_r.get(), buf, sizeof(buf)) > 0) {
      }
      for (;;) {  // accept everything waiting
        auto c = listener.Accept(0);
        if (!c.ok() || !c->connected()) break;
        // Only our own workers connect; a flood of strangers is closed, not queued.
        if (pending.size() < kMaxPending) pending.push_back({std::move(*c), Clock::now()});
      }
      bool stop = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        ReadPending();
        for (size_t i = 0; i < slots.size(); ++i) ReadWorker(i);
        Reap();
        Timers();
        Assign();
        stop = stopping;
      }
      FireOutbox();
      if (stop) break;
    }
    Stop();
  }

  // Passes of read + reap until every worker is reaped or the deadline passes.
  bool WaitForExits(int ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      bool any_alive = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        for (size_t i = 0; i < slots.size(); ++i) ReadWorker(i);
        Reap();
        for (const Slot& s : slots) any_alive = any_alive || s.pid > 0;
      }
      FireOutbox();
      if (!any_alive) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void SignalAll(int sig, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu);
    for (Slot& s : slots) Kill(s, sig, reason);
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const std::string& id : queue) {
        Emit(jobs[id].cb, {{"type", "aborted"}, {"job_id", id}, {"reason", "shutdown"}});
        jobs.erase(id);
      }
      queue.clear();
      for (Slot& s : slots) {
        if (s.conn.connected()) {
          if (!s.conn.Send({{"type", "shutdown"}}, 1000).ok()) Kill(s, SIGTERM, "shutdown");
        } else if (s.pid > 0) {
          Kill(s, SIGTERM, "shutdown");  // not connected yet: nothing to say goodbye to
        } else {
          s.state = WorkerState::kStopped;
        }
      }
      pending.clear();
    }
    FireOutbox();
    if (!WaitForExits(opt.shutdown_grace_ms)) {
      SignalAll(SIGTERM, "shutdown");
      if (!WaitForExits(opt.term_grace_ms)) {
        SignalAll(SIGKILL, "it did not stop after SIGTERM");
        WaitForExits(60000);  // SIGKILL cannot be refused: this ends promptly
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [id, job] : jobs)
      Emit(job.cb, {{"type", "aborted"}, {"job_id", id}, {"reason", "shutdown"}});
    jobs.clear();
    for (Slot& s : slots) s.state = WorkerState::kStopped;
    cv.notify_all();
  }
};

// ---- public API -------------------------------------------------------------------------

WorkerSupervisor::WorkerSupervisor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WorkerSupervisor::~WorkerSupervisor() {
  Shutdown();
}

Result<std::unique_ptr<WorkerSupervisor>> WorkerSupervisor::Start(SupervisorOptions options,
                                                                  EventCallback on_worker_event) {
  if (options.workers.empty()) return InvalidArgument("a supervisor needs at least one worker");
  if (options.easel_binary.empty() || ::access(options.easel_binary.c_str(), X_OK) != 0)
    return IoError("cannot run the worker binary '" + options.easel_binary +
                   "': " + ErrnoText(errno));
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->on_worker_event = std::move(on_worker_event);
  impl->token = process::RandomToken();

  std::string address_text = impl->opt.listen_address;
  if (address_text.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "easel-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      return IoError("cannot create a folder for the worker socket in " + tmpl + ": " +
                     ErrnoText(errno));
    impl->temp_dir = tmpl;  // mkdtemp makes it 0700: only this user reaches the socket
    address_text = "unix:" + tmpl + "/workers.sock";
  }
  auto address = ipc::Address::Parse(address_text);
  if (!address.ok()) return address.status();
  auto listener = ipc::Listener::Listen(*address);
  if (!listener.ok()) return listener.status();
  impl->listener = std::move(*listener);

  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
    return IoError("cannot create the supervisor's wake pipe: " + ErrnoText(errno));
  impl->wake_r.reset(p[0]);
  impl->wake_w.reset(p[1]);

  for (size_t i = 0; i < impl->opt.workers.size(); ++i) {
    Slot s;
    s.id = "w" + std::to_string(i);
    s.spec = impl->opt.workers[i];
    impl->slots.push_back(std::move(s));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<WorkerSupervisor>(new WorkerSupervisor(std::move(impl)));
}

Status WorkerSupervisor::Dispatch(const std::string& job_id, const nlohmann::json& request,
                                  const std::string& output_dir, EventCallback on_event) {
  if (!wp::ValidJobId(job_id))
    return InvalidArgument("job id '" + job_id + "' must be 1 to 64 letters, digits, '_' or '-'");
  if (!request.is_object()) return InvalidArgument("a job's request must be a JSON object");
  Job job;
  job.id = job_id;
  job.request = request;
  job.output_dir = output_dir;
  job.cb = std::move(on_event);
  if (request.contains("device") && request["device"].is_string()) job.device = request["device"];
  if (request.contains("model") && request["model"].is_string()) job.model = request["model"];
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.stopping) return Status(Code::kCancelled, "the worker supervisor is shutting down");
  if (m.jobs.count(job_id))
    return InvalidArgument("job " + job_id + " is already queued or running");
  bool any = false;
  for (const Slot& s : m.slots) any = any || m.SlotCanServe(s, job.device);
  if (!any)
    return NotFound(job.device.empty() ? "no worker can run jobs: every worker failed to start"
                                       : "no worker runs on device '" + job.device + "'");
  m.queue.push_back(job_id);
  m.jobs.emplace(job_id, std::move(job));
  m.Wake();
  return Status::Ok();
}

Status WorkerSupervisor::Cancel(const std::string& job_id) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  auto it = m.jobs.find(job_id);
  if (it == m.jobs.end()) return NotFound("job " + job_id + " is not queued or running");
  Job& job = it->second;
  if (job.slot < 0) {
    m.queue.erase(std::find(m.queue.begin(), m.queue.end(), job_id));
    m.Emit(job.cb, {{"type", "cancelled"}, {"job_id", job_id}});
    m.jobs.erase(it);
  } else {
    job.cancel_requested = true;
  }
  m.Wake();
  return Status::Ok();
}

std::vector<WorkerInfo> WorkerSupervisor::Workers() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  std::vector<WorkerInfo> out;
  for (const Slot& s : m.slots) {
    WorkerInfo w;
    w.id = s.id;
    w.pid = s.pid;
    w.state = s.state;
    w.device = s.spec.device;
    w.dtype = s.spec.dtype;
    w.job_id = s.job_id;
    w.loaded_model = s.loaded_model;
    w.restarts = s.restarts;
    w.last_exit = s.last_exit;
    out.push_back(std::move(w));
  }
  return out;
}

int WorkerSupervisor::Idle() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  return static_cast<int>(std::count_if(
      m.slots.begin(), m.slots.end(), [](const Slot& s) { return s.state == WorkerState::kIdle; }));
}

int WorkerSupervisor::Queued() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  return static_cast<int>(m.queue.size());
}

bool WorkerSupervisor::WaitForReady(int count, int timeout_ms) const {
  const Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu);
  bool reached = false;
  m.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    int idle = 0, failed = 0;
    for (const Slot& s : m.slots) {
      idle += s.state == WorkerState::kIdle;
      failed += s.state == WorkerState::kFailed || s.state == WorkerState::kStopped;
    }
    reached = idle >= count;
    return reached || failed == static_cast<int>(m.slots.size());
  });
  return reached;
}

std::string WorkerSupervisor::address() const {
  return impl_->listener.address().ToString();
}

void WorkerSupervisor::Shutdown() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> guard(m.shutdown_mu);
  if (m.joined) return;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.stopping = true;
  }
  m.Wake();
  if (m.thread.joinable()) {
    if (m.thread.get_id() == std::this_thread::get_id()) return;  // from a callback: misuse
    m.thread.join();
  }
  m.joined = true;
}

}  // namespace easel::server

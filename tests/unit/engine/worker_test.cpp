// `easel worker` and the WorkerSupervisor with real processes: the built easel binary, the
// fixture model tests/fixtures/sd1 (64x64 images, 2 steps: well under a second a job on a CPU).
// Jobs, model reuse, cancel, kill -9 mid-job, restarts and crash loops, device failure,
// malformed messages and requests, shutdown without zombies.
#include <gtest/gtest.h>
#include <signal.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../core/io_temp_dir.h"
#include "io/png.h"
#include "server/ipc.h"
#include "server/process.h"
#include "server/supervisor.h"
#include "server/worker_protocol.h"
#include "test_paths.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kEasel = EASEL_BINARY_DIR "/easel";
const std::string kModel = EASEL_FIXTURES_DIR "/sd1";

json Request(int steps = 2, int64_t seed = 42) {
  return {{"model", kModel},
          {"prompt", "a red fox in snow"},
          {"negative_prompt", "blurry"},
          {"steps", steps},
          {"width", 64},
          {"height", 64},
          {"seed", seed},
          {"sampler_name", "euler"}};
}

bool IsTerminal(const json& e) {
  static const char* kTypes[] = {"done", "error", "cancelled", "worker_died", "aborted"};
  for (const char* t : kTypes)
    if (e["type"] == t) return true;
  return false;
}

// Events from the supervisor's I/O thread, waited on by the test thread.
class EventLog {
 public:
  EventCallback Callback() {
    return [this](const json& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  std::optional<json> Wait(const std::function<bool(const json&)>& pred, int timeout_ms = 30000) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<json> found;
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
      for (const json& e : events_)
        if (pred(e)) {
          found = e;
          return true;
        }
      return false;
    });
    return found;
  }
  std::optional<json> WaitType(const std::string& type, int timeout_ms = 30000) {
    return Wait([&](const json& e) { return e["type"] == type; }, timeout_ms);
  }
  std::optional<json> WaitTerminal(const std::string& job_id, int timeout_ms = 30000) {
    return Wait([&](const json& e) { return IsTerminal(e) && e["job_id"] == job_id; }, timeout_ms);
  }
  int Count(const std::string& type) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const json& e : events_) n += e["type"] == type;
    return n;
  }
  std::vector<json> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> events_;
};

class WorkerTest : public ::testing::Test {
 protected:
  SupervisorOptions Options(int workers = 1) {
    SupervisorOptions o;
    o.easel_binary = kEasel;
    o.workers.assign(static_cast<size_t>(workers), WorkerSpec{});
    o.restart_delay_ms = 20;
    o.hello_timeout_ms = 20000;
    o.worker_env = {"EASEL_CACHE_DIR=" + dir_.File("cache")};  // model hashes, not in ~
    return o;
  }
  std::unique_ptr<WorkerSupervisor> Start(SupervisorOptions o) {
    auto s = WorkerSupervisor::Start(std::move(o), lifecycle_.Callback());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::string Out() { return dir_.File("out"); }
  int PngCount() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(Out(), ec)) n += e.path().extension() == ".png";
    return n;
  }

  testing::TempDir dir_;
  EventLog lifecycle_;
};

TEST_F(WorkerTest, RunsJobsWritesPngsWithParametersAndKeepsTheModelLoaded) {
  auto sup = Start(Options());
  ASSERT_TRUE(sup);
  EventLog job1, job2;
  ASSERT_TRUE(sup->Dispatch("job-1", Request(), Out(), job1.Callback()).ok());
  auto done = job1.WaitTerminal("job-1");
  ASSERT_TRUE(done) << "no end for job-1";
  ASSERT_EQ((*done)["type"], "done") << done->dump();
  EXPECT_EQ(job1.Count("started"), 1);
  EXPECT_EQ(job1.Count("progress"), 2);
  auto last = job1.Wait([](const json& e) { return e["type"] == "progress" && e["step"] == 2; });
  ASSERT_TRUE(last);
  EXPECT_EQ((*last)["total"], 2);
  EXPECT_EQ((*last)["worker_id"], "w0");
  ASSERT_EQ((*done)["images"].size(), 1u);
  const json& image = (*done)["images"][0];
  EXPECT_EQ(image["seed"], 42);
  EXPECT_EQ(image["width"], 64);
  EXPECT_EQ(image["path"], Out() + "/job-1-0.png");
  auto text = io::ReadPngText(image["path"]);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  ASSERT_EQ(text->size(), 1u);
  EXPECT_EQ((*text)[0].first, "parameters");
  EXPECT_EQ((*text)[0].second, image["parameters"]);
  EXPECT_NE((*text)[0].second.find("a red fox in snow\nNegative prompt: blurry\nSteps: 2, "
                                   "Sampler: Euler, Schedule type: Normal, CFG scale: 7, "
                                   "Seed: 42, Size: 64x64"),
            std::string::npos)
      << (*text)[0].second;
  EXPECT_TRUE(fs::exists(Out() + "/job-1-0.json"));
  EXPECT_FALSE((*done)["model_cached"].get<bool>());
  const double load1 = (*done)["timings"]["load_s"];
  EXPECT_GT(load1, 0.0);

  ASSERT_TRUE(sup->Dispatch("job-2", Request(2, 7), Out(), job2.Callback()).ok());
  auto done2 = job2.WaitTerminal("job-2");
  ASSERT_TRUE(done2);
  ASSERT_EQ((*done2)["type"], "done") << done2->dump();
  EXPECT_TRUE((*done2)["model_cached"].get<bool>());
  EXPECT_LT((*done2)["timings"]["load_s"].get<double>(), load1);
  EXPECT_EQ(PngCount(), 2);
  auto workers = sup->Workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].loaded_model, kModel);
  EXPECT_EQ(workers[0].restarts, 0);
}

TEST_F(WorkerTest, CancelStopsARunningJobWithoutAnImageAndDropsAQueuedOne) {
  SupervisorOptions o = Options();
  o.listen_address = "tcp:127.0.0.1:0";  // a worker reaches its server over TCP too
  auto sup = Start(o);
  ASSERT_TRUE(sup);
  EXPECT_EQ(sup->address().rfind("tcp:127.0.0.1:", 0), 0u);
  EventLog log;
  ASSERT_TRUE(sup->Dispatch("long", Request(500), Out(), log.Callback()).ok());
  ASSERT_TRUE(sup->Dispatch("queued", Request(), Out(), log.Callback()).ok());
  ASSERT_TRUE(log.WaitType("progress"));
  EXPECT_EQ(sup->Queued(), 1);
  ASSERT_TRUE(sup->Cancel("queued").ok());
  ASSERT_TRUE(sup->Cancel("long").ok());
  auto end_queued = log.WaitTerminal("queued");
  auto end_long = log.WaitTerminal("long");
  ASSERT_TRUE(end_queued && end_long);
  EXPECT_EQ((*end_queued)["type"], "cancelled");
  EXPECT_EQ((*end_long)["type"], "cancelled") << end_long->dump();
  EXPECT_FALSE(end_long->contains("forced"));
  EXPECT_LT(log.Count("progress"), 500);
  EXPECT_EQ(PngCount(), 0);
  EXPECT_EQ(sup->Cancel("long").code(), Code::kNotFound);
  // The worker keeps serving.
  ASSERT_TRUE(sup->Dispatch("after", Request(), Out(), log.Callback()).ok());
  auto after = log.WaitTerminal("after");
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)["type"], "done");
  EXPECT_EQ(PngCount(), 1);
}

TEST_F(WorkerTest, AWorkerKilledMidJobIsReportedWithTheJobAndReplaced) {
  auto sup = Start(Options());
  ASSERT_TRUE(sup);
  EventLog log;
  ASSERT_TRUE(sup->Dispatch("doomed", Request(500), Out(), log.Callback()).ok());
  ASSERT_TRUE(log.WaitType("progress"));
  const int pid = sup->Workers()[0].pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto died = log.WaitTerminal("doomed");
  ASSERT_TRUE(died);
  EXPECT_EQ((*died)["type"], "worker_died") << died->dump();
  EXPECT_EQ((*died)["signal"], SIGKILL);
  EXPECT_EQ((*died)["pid"], pid);
  EXPECT_NE((*died)["reason"].get<std::string>().find("SIGKILL"), std::string::npos);
  auto report = lifecycle_.WaitType("worker_died");
  ASSERT_TRUE(report);
  EXPECT_EQ((*report)["job_id"], "doomed");
  // A new worker comes up and runs the next job (the caller's retry).
  ASSERT_TRUE(sup->Dispatch("retry", Request(), Out(), log.Callback()).ok());
  auto done = log.WaitTerminal("retry");
  ASSERT_TRUE(done);
  EXPECT_EQ((*done)["type"], "done") << done->dump();
  auto w = sup->Workers()[0];
  EXPECT_EQ(w.restarts, 1);
  EXPECT_NE(w.pid, pid);
  EXPECT_EQ(::kill(pid, 0), -1) << "the killed worker was not reaped";
  EXPECT_EQ(lifecycle_.Count("worker_ready"), 2);
}

TEST_F(WorkerTest, ABinaryThatDiesAtStartIsGivenUpOnAfterBackoffNotInAHotLoop) {
  SupervisorOptions o = Options();
  o.easel_binary = "/bin/false";
  o.max_start_failures = 3;
  o.restart_delay_ms = 40;
  const auto t0 = std::chrono::steady_clock::now();
  auto sup = Start(o);
  ASSERT_TRUE(sup);
  auto failed = lifecycle_.WaitType("worker_failed", 10000);
  ASSERT_TRUE(failed);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_GE(ms, 40 + 80);  // backoff doubled between attempts
  EXPECT_EQ((*failed)["attempts"], 3);
  EXPECT_NE((*failed)["reason"].get<std::string>().find("exited with status 1"), std::string::npos)
      << failed->dump();
  EXPECT_EQ(lifecycle_.Count("worker_started"), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(lifecycle_.Count("worker_started"), 3) << "restarted after giving up";
  EXPECT_EQ(sup->Workers()[0].state, WorkerState::kFailed);
  EventLog log;
  EXPECT_EQ(sup->Dispatch("j", Request(), Out(), log.Callback()).code(), Code::kNotFound);
  EXPECT_FALSE(sup->WaitForReady(1, 10));
}

TEST_F(WorkerTest, AnUnusableDeviceExitsWithItsOwnStatusAndIsReported) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  SupervisorOptions o = Options();
  o.workers = {WorkerSpec{"cuda", "fp32"}};
  o.max_start_failures = 2;
  auto sup = Start(o);
  ASSERT_TRUE(sup);
  auto died = lifecycle_.WaitType("worker_died");
  ASSERT_TRUE(died);
  EXPECT_EQ((*died)["exit_code"], worker_protocol::kExitDeviceUnusable) << died->dump();
  const std::string reason = (*died)["reason"];
  EXPECT_NE(reason.find("the device cuda is unusable"), std::string::npos) << reason;
  EXPECT_NE(reason.find("no CUDA"), std::string::npos) << reason;
  ASSERT_TRUE(lifecycle_.WaitType("worker_failed"));
  EXPECT_EQ(lifecycle_.Count("worker_started"), 2);
}

TEST_F(WorkerTest, ShutdownAbortsTheRunningJobAndReapsEveryWorker) {
  auto sup = Start(Options(2));
  ASSERT_TRUE(sup);
  ASSERT_TRUE(sup->WaitForReady(2, 20000));
  EventLog log;
  ASSERT_TRUE(sup->Dispatch("running", Request(500), Out(), log.Callback()).ok());
  ASSERT_TRUE(log.WaitType("progress"));
  std::vector<int> pids;
  for (const WorkerInfo& w : sup->Workers()) pids.push_back(w.pid);
  sup->Shutdown();
  auto end = log.WaitTerminal("running", 0);
  ASSERT_TRUE(end);
  EXPECT_EQ((*end)["type"], "aborted") << end->dump();
  for (int pid : pids) {
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), -1) << "worker " << pid << " is still there (a zombie?)";
    EXPECT_EQ(errno, ESRCH);
  }
  for (const WorkerInfo& w : sup->Workers()) {
    EXPECT_EQ(w.state, WorkerState::kStopped);
    EXPECT_EQ(w.last_exit, "exited with status 0") << "not a graceful exit";
  }
  EXPECT_EQ(PngCount(), 0);
  EXPECT_EQ(sup->Dispatch("late", Request(), Out(), log.Callback()).code(), Code::kCancelled);
  sup->Shutdown();  // idempotent
}

// The test plays the server: it listens, starts `easel worker` itself and speaks the protocol
// directly, malformed messages included.
class WorkerProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto addr = ipc::Address::Parse("unix:" + dir_.File("s.sock"));
    ASSERT_TRUE(addr.ok());
    auto l = ipc::Listener::Listen(*addr);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    listener_ = std::move(*l);
    process::SpawnOptions so;
    so.path = kEasel;
    so.args = {"worker", "--connect", addr->ToString(), "--worker-id", "wx"};
    so.env = {std::string(worker_protocol::kTokenEnv) + "=secret",
              "EASEL_CACHE_DIR=" + dir_.File("cache")};
    auto pid = process::Spawn(so);
    ASSERT_TRUE(pid.ok()) << pid.status().ToString();
    pid_ = *pid;
    auto c = listener_.Accept(20000);
    ASSERT_TRUE(c.ok() && c->connected());
    conn_ = std::move(*c);
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      process::Reap(pid_);
    }
  }
  json Next() {
    auto r = conn_.Recv(20000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->state != ipc::RecvState::kMessage) return json{{"type", "<nothing>"}};
    return r->message;
  }
  // The next message that is not a progress report.
  json NextOutcome() {
    for (;;) {
      json m = Next();
      if (m["type"] != "progress") return m;
    }
  }
  json Run(const std::string& job_id, const json& request) {
    EXPECT_TRUE(conn_
                    .Send({{"type", "run"},
                           {"job_id", job_id},
                           {"request", request},
                           {"output_dir", dir_.File("out")}},
                          1000)
                    .ok());
    return NextOutcome();
  }

  testing::TempDir dir_;
  ipc::Listener listener_;
  ipc::Connection conn_;
  pid_t pid_ = -1;
};

TEST_F(WorkerProtocolTest, SaysHelloThenAnswersMalformedInputWithErrorsAndKeepsServing) {
  json hello = Next();
  EXPECT_EQ(hello["type"], "hello");
  EXPECT_EQ(hello["worker_id"], "wx");
  EXPECT_EQ(hello["pid"], pid_);
  EXPECT_EQ(hello["device"], "cpu");
  EXPECT_EQ(hello["dtype"], "fp32");
  EXPECT_EQ(hello["token"], "secret");

  ASSERT_TRUE(conn_.SendPayload("this is not json", 1000).ok());
  json e = Next();
  EXPECT_EQ(e["type"], "error");
  EXPECT_TRUE(e["job_id"].is_null());
  EXPECT_EQ(e["code"], "corrupt");
  EXPECT_NE(e["message"].get<std::string>().find("not JSON"), std::string::npos);

  ASSERT_TRUE(conn_.Send(json::array({1, 2}), 1000).ok());
  e = Next();
  EXPECT_EQ(e["type"], "error");
  EXPECT_NE(e["message"].get<std::string>().find("string 'type'"), std::string::npos);

  ASSERT_TRUE(conn_.Send({{"type", "explode"}, {"job_id", "j0"}}, 1000).ok());
  e = Next();
  EXPECT_EQ(e["job_id"], "j0");
  EXPECT_EQ(e["code"], "invalid_argument");
  EXPECT_NE(e["message"].get<std::string>().find("unknown message type 'explode'"),
            std::string::npos);

  ASSERT_TRUE(conn_.Send({{"type", "ping"}}, 1000).ok());
  EXPECT_EQ(Next()["type"], "pong");

  // Bad requests: each an error naming the field, for that job.
  json bad = Request();
  bad["steps"] = "many";
  e = Run("j1", bad);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["job_id"], "j1");
  EXPECT_EQ(e["code"], "invalid_argument");
  EXPECT_EQ(e["message"], "'steps' must be an integer, got string");

  bad = Request();
  bad["cfg"] = 7;
  e = Run("j2", bad);
  EXPECT_EQ(e["code"], "invalid_argument");
  EXPECT_NE(e["message"].get<std::string>().find("unknown field 'cfg'"), std::string::npos);

  bad = Request();
  bad["width"] = 65;
  e = Run("j3", bad);
  EXPECT_NE(e["message"].get<std::string>().find("width 65 is not a multiple of 8"),
            std::string::npos)
      << e.dump();

  e = Run("../../etc/x", Request());
  EXPECT_EQ(e["type"], "error");
  EXPECT_NE(e["message"].get<std::string>().find("'job_id' must be"), std::string::npos);

  bad = Request();
  bad["model"] = dir_.File("missing.safetensors");
  e = Run("j4", bad);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["code"], "not_found") << e.dump();

  ASSERT_TRUE(conn_.Send({{"type", "run"}, {"job_id", "j5"}, {"request", Request()}}, 1000).ok());
  e = NextOutcome();
  EXPECT_NE(e["message"].get<std::string>().find("'output_dir'"), std::string::npos);

  // A cancel for nothing running is ignored; then a good job still runs.
  ASSERT_TRUE(conn_.Send({{"type", "cancel"}, {"job_id", "nope"}}, 1000).ok());
  json done = Run("good", Request());
  ASSERT_EQ(done["type"], "done") << done.dump();
  EXPECT_TRUE(fs::exists(dir_.File("out/good-0.png")));

  ASSERT_TRUE(conn_.Send({{"type", "shutdown"}}, 1000).ok());
  const int status = process::Reap(pid_);
  pid_ = -1;
  EXPECT_EQ(process::DescribeExit(status), "exited with status 0");
}

TEST_F(WorkerProtocolTest, ARunWhileBusyIsRefusedAndShutdownStopsTheJob) {
  EXPECT_EQ(Next()["type"], "hello");
  ASSERT_TRUE(conn_
                  .Send({{"type", "run"},
                         {"job_id", "long"},
                         {"request", Request(500)},
                         {"output_dir", dir_.File("out")}},
                        1000)
                  .ok());
  EXPECT_EQ(Next()["type"], "progress");
  ASSERT_TRUE(conn_
                  .Send({{"type", "run"},
                         {"job_id", "second"},
                         {"request", Request()},
                         {"output_dir", dir_.File("out")}},
                        1000)
                  .ok());
  json e = NextOutcome();
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["job_id"], "second");
  EXPECT_NE(e["message"].get<std::string>().find("busy with job long"), std::string::npos);
  ASSERT_TRUE(conn_.Send({{"type", "shutdown"}}, 1000).ok());
  e = NextOutcome();
  EXPECT_EQ(e["type"], "cancelled");
  EXPECT_EQ(e["job_id"], "long");
  EXPECT_EQ(process::DescribeExit(process::Reap(pid_)), "exited with status 0");
  pid_ = -1;
}

TEST_F(WorkerProtocolTest, ALyingFrameLengthEndsTheWorker) {
  EXPECT_EQ(Next()["type"], "hello");
  const char huge[] = {'\x7f', '\xff', '\xff', '\xff'};
  ASSERT_EQ(::write(conn_.fd(), huge, 4), 4);
  EXPECT_EQ(process::DescribeExit(process::Reap(pid_)),
            "exited with status " + std::to_string(worker_protocol::kExitProtocol));
  pid_ = -1;
}

}  // namespace
}  // namespace easel::server

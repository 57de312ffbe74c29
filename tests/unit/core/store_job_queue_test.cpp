// SqliteJobQueue: states and transitions, priorities and FIFO, cancel, retry then fail,
// crash recovery, events, concurrent claimers (each job claimed once), and durability of
// acknowledged submissions across kill -9 (a forked child that SIGKILLs itself).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io_temp_dir.h"
#include "store/sqlite_job_queue.h"

namespace easel::store {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::unique_ptr<SqliteJobQueue> MustOpen(const std::string& path) {
  Result<std::unique_ptr<SqliteJobQueue>> q = SqliteJobQueue::Open(path);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return q.ok() ? std::move(*q) : nullptr;
}

Job MustSubmit(JobQueue& q, const std::string& request, int priority = 0) {
  Result<Job> job = q.Submit("txt2img", request, priority);
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  return job.ok() ? *job : Job{};
}

Job MustClaim(JobQueue& q, const std::string& worker = "w0") {
  Result<std::optional<Job>> job = q.ClaimNext(worker);
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_TRUE(job.ok() && job->has_value()) << "no job to claim";
  return job.ok() && job->has_value() ? **job : Job{};
}

bool NothingToClaim(JobQueue& q) {
  Result<std::optional<Job>> job = q.ClaimNext("w0");
  return job.ok() && !job->has_value();
}

std::vector<std::string> EventTypes(JobQueue& q, const std::string& id) {
  std::vector<std::string> types;
  Result<std::vector<JobEvent>> events = q.Events(id);
  EXPECT_TRUE(events.ok()) << events.status().ToString();
  if (events.ok()) {
    for (const JobEvent& e : *events) types.push_back(e.type);
  }
  return types;
}

class StoreJobQueue : public ::testing::Test {
 protected:
  void SetUp() override { q_ = MustOpen(path()); }
  std::string path() const { return dir_.File("easel.db"); }
  testing::TempDir dir_;
  std::unique_ptr<SqliteJobQueue> q_;
};

TEST_F(StoreJobQueue, SubmitQueuesADurableJob) {
  Job job = MustSubmit(*q_, R"({"prompt": "a castle"})", 3);
  EXPECT_EQ(job.id.size(), 18u);
  EXPECT_EQ(job.id.substr(0, 2), "j_");
  EXPECT_EQ(job.kind, "txt2img");
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.priority, 3);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.max_attempts, 2);
  EXPECT_GT(job.created_ms, 1600000000000);
  q_.reset();  // closed: what Get reads below comes from the file
  q_ = MustOpen(path());
  Result<Job> got = q_->Get(job.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->request_json, R"({"prompt": "a castle"})");
  EXPECT_EQ(got->state, JobState::kQueued);
  EXPECT_EQ(got->created_ms, job.created_ms);
  EXPECT_EQ(EventTypes(*q_, job.id), std::vector<std::string>{"queued"});
}

TEST_F(StoreJobQueue, ClaimTakesHighestPriorityThenOldest) {
  std::string a = MustSubmit(*q_, "a", 0).id;
  std::string b = MustSubmit(*q_, "b", 5).id;
  std::string c = MustSubmit(*q_, "c", 0).id;
  std::string d = MustSubmit(*q_, "d", 5).id;
  std::string e = MustSubmit(*q_, "e", -1).id;
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) order.push_back(MustClaim(*q_).id);
  EXPECT_EQ(order, (std::vector<std::string>{b, d, a, c, e}));
  EXPECT_TRUE(NothingToClaim(*q_));
}

TEST_F(StoreJobQueue, ClaimMarksRunningAndCountsTheAttempt) {
  std::string id = MustSubmit(*q_, "x").id;
  Job job = MustClaim(*q_, "gpu0");
  EXPECT_EQ(job.id, id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(job.worker, "gpu0");
  EXPECT_GT(job.started_ms, 0);
  EXPECT_EQ(q_->Get(id)->state, JobState::kRunning);
}

TEST_F(StoreJobQueue, ClaimCanBeLimitedToKinds) {
  Result<Job> chat = q_->Submit("chat", "{}");
  ASSERT_TRUE(chat.ok());
  std::string img = MustSubmit(*q_, "x").id;
  Result<std::optional<Job>> got = q_->ClaimNext("gpu0", {"txt2img", "img2img"});
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->id, img);
  got = q_->ClaimNext("gpu0", {"txt2img"});
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  got = q_->ClaimNext("llm0", {"chat"});
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->id, chat->id);
}

TEST_F(StoreJobQueue, CompleteStoresTheResultOnce) {
  std::string id = MustSubmit(*q_, "x").id;
  MustClaim(*q_);
  Result<Job> done = q_->Complete(id, R"({"images": ["i_1"]})");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_GT(done->finished_ms, 0);
  EXPECT_EQ(q_->Get(id)->result_json, R"({"images": ["i_1"]})");
  // A second report on an ended job is refused and changes nothing.
  Result<Job> again = q_->Complete(id, "{}");
  EXPECT_EQ(again.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(again.status().message(), "succeeded, not running"))
      << again.status().message();
  EXPECT_EQ(q_->Fail(id, "late").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->Get(id)->result_json, R"({"images": ["i_1"]})");
  EXPECT_EQ(EventTypes(*q_, id), (std::vector<std::string>{"queued", "running", "succeeded"}));
}

TEST_F(StoreJobQueue, CompleteOfAQueuedJobIsRefused) {
  std::string id = MustSubmit(*q_, "x").id;
  Result<Job> r = q_->Complete(id, "{}");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "queued, not running")) << r.status().message();
}

TEST_F(StoreJobQueue, CancelOfAQueuedJobIsImmediate) {
  std::string id = MustSubmit(*q_, "x").id;
  Result<Job> r = q_->Cancel(id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, JobState::kCancelled);
  EXPECT_GT(r->finished_ms, 0);
  EXPECT_TRUE(NothingToClaim(*q_));
  EXPECT_EQ(EventTypes(*q_, id), (std::vector<std::string>{"queued", "cancelled"}));
}

TEST_F(StoreJobQueue, CancelOfARunningJobAsksTheWorkerToStop) {
  std::string id = MustSubmit(*q_, "x").id;
  MustClaim(*q_);
  Result<Job> r = q_->Cancel(id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kRunning);
  EXPECT_TRUE(r->cancel_requested);
  EXPECT_TRUE(q_->Get(id)->cancel_requested);  // what the worker polls between steps
  EXPECT_TRUE(q_->Cancel(id).ok());            // asking twice is harmless
  Result<Job> stopped = q_->MarkCancelled(id);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_EQ(stopped->state, JobState::kCancelled);
  EXPECT_EQ(EventTypes(*q_, id),
            (std::vector<std::string>{"queued", "running", "cancel_requested", "cancelled"}));
}

TEST_F(StoreJobQueue, CancelOfAnEndedJobChangesNothing) {
  std::string id = MustSubmit(*q_, "x").id;
  MustClaim(*q_);
  ASSERT_TRUE(q_->Complete(id, "{}").ok());
  Result<Job> r = q_->Cancel(id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kSucceeded);
  EXPECT_FALSE(r->cancel_requested);
  EXPECT_EQ(q_->MarkCancelled(id).status().code(), Code::kInvalidArgument);
}

TEST_F(StoreJobQueue, FailRetriesOnceThenFailsWithTheReason) {
  std::string id = MustSubmit(*q_, "x").id;
  MustClaim(*q_, "gpu0");
  Result<Job> r = q_->Fail(id, "worker died: signal 11");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, JobState::kQueued);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->error, "worker died: signal 11");
  Job second = MustClaim(*q_, "gpu1");
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempts, 2);
  r = q_->Fail(id, "CUDA out of memory");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kFailed);
  EXPECT_EQ(r->error, "CUDA out of memory");
  EXPECT_GT(r->finished_ms, 0);
  EXPECT_TRUE(NothingToClaim(*q_));
  EXPECT_EQ(EventTypes(*q_, id),
            (std::vector<std::string>{"queued", "running", "retry", "running", "failed"}));
  Result<std::vector<JobEvent>> events = q_->Events(id);
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(Contains(events->back().payload_json, "CUDA out of memory"));
}

TEST_F(StoreJobQueue, FailOfACancelRequestedJobCancelsIt) {
  std::string id = MustSubmit(*q_, "x").id;
  MustClaim(*q_);
  ASSERT_TRUE(q_->Cancel(id).ok());
  Result<Job> r = q_->Fail(id, "interrupted");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kCancelled);
  EXPECT_TRUE(NothingToClaim(*q_));
}

TEST_F(StoreJobQueue, UnknownAndHostileIdsAreNotFound) {
  for (const std::string& id :
       {std::string("j_0000000000000000"), std::string("../../etc"), std::string("x' OR '1'='1"),
        std::string(), std::string(500, 'a')}) {
    EXPECT_EQ(q_->Get(id).status().code(), Code::kNotFound) << id;
    EXPECT_EQ(q_->Cancel(id).status().code(), Code::kNotFound) << id;
    EXPECT_EQ(q_->Events(id).status().code(), Code::kNotFound) << id;
    EXPECT_EQ(q_->AddEvent(id, "progress", "{}").status().code(), Code::kNotFound) << id;
  }
  EXPECT_LT(q_->Get(std::string(500, 'a')).status().message().size(), 200u);
}

TEST_F(StoreJobQueue, BadArgumentsAreRefused) {
  EXPECT_EQ(q_->Submit("", "{}").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->Submit("TXT2IMG", "{}").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->Submit("a b", "{}").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->ClaimNext("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->List({std::nullopt, 0, 0}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->List({std::nullopt, 10, -1}).status().code(), Code::kInvalidArgument);
  SqliteJobQueueOptions bad;
  bad.max_attempts = 0;
  EXPECT_EQ(SqliteJobQueue::Open(dir_.File("other.db"), bad).status().code(),
            Code::kInvalidArgument);
}

TEST_F(StoreJobQueue, ListIsNewestFirstWithPagingAndStateFilter) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(MustSubmit(*q_, std::to_string(i)).id);
  ASSERT_TRUE(q_->Cancel(ids[1]).ok());
  ASSERT_TRUE(q_->Cancel(ids[3]).ok());
  Result<JobPage> page = q_->List({std::nullopt, 2, 0});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->total, 5);
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->jobs[0].id, ids[4]);
  EXPECT_EQ(page->jobs[1].id, ids[3]);
  page = q_->List({std::nullopt, 2, 4});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, ids[0]);
  page = q_->List({JobState::kCancelled, 10, 0});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 2);
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->jobs[0].id, ids[3]);
  page = q_->List({std::nullopt, 10, 100});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->jobs.empty());
  EXPECT_EQ(page->total, 5);
}

TEST_F(StoreJobQueue, StatsCountEachState) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(MustSubmit(*q_, "x").id);
  MustClaim(*q_);  // ids[0] running
  MustClaim(*q_);  // ids[1]
  ASSERT_TRUE(q_->Complete(ids[1], "{}").ok());
  MustClaim(*q_);                           // ids[2]
  ASSERT_TRUE(q_->Fail(ids[2], "x").ok());  // back to queued
  ASSERT_TRUE(q_->Cancel(ids[3]).ok());
  Result<QueueStats> s = q_->Stats();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->queued, 3);  // 2, 4, 5
  EXPECT_EQ(s->running, 1);
  EXPECT_EQ(s->succeeded, 1);
  EXPECT_EQ(s->failed, 0);
  EXPECT_EQ(s->cancelled, 1);
  EXPECT_EQ(s->Count(JobState::kQueued), 3);
}

TEST_F(StoreJobQueue, EventsAreOrderedAndReadFromASequenceNumber) {
  std::string a = MustSubmit(*q_, "a").id;
  std::string b = MustSubmit(*q_, "b").id;
  Result<JobEvent> e1 = q_->AddEvent(a, "progress", R"({"step": 1, "total": 20})");
  ASSERT_TRUE(e1.ok()) << e1.status().ToString();
  ASSERT_TRUE(q_->AddEvent(b, "progress", "").ok());
  Result<JobEvent> e2 = q_->AddEvent(a, "progress", R"({"step": 2, "total": 20})");
  ASSERT_TRUE(e2.ok());
  EXPECT_GT(e2->seq, e1->seq);
  Result<std::vector<JobEvent>> since = q_->Events(a, e1->seq);
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->size(), 1u);
  EXPECT_EQ((*since)[0].payload_json, R"({"step": 2, "total": 20})");
  EXPECT_EQ((*since)[0].job_id, a);
  Result<std::vector<JobEvent>> all_b = q_->Events(b);
  ASSERT_TRUE(all_b.ok());
  ASSERT_EQ(all_b->size(), 2u);  // "queued" and the progress
  EXPECT_EQ((*all_b)[1].payload_json, "{}");
  EXPECT_EQ(q_->Events(a, 0, 2)->size(), 2u);  // limit
  EXPECT_EQ(q_->AddEvent(a, "progress", "[1, 2]").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->AddEvent(a, "progress", "{bad").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->AddEvent(a, "Progress!", "{}").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(q_->Events(a, 0, 0).status().code(), Code::kInvalidArgument);
}

TEST_F(StoreJobQueue, RecoveryRequeuesRunningJobsWithTheAttemptCounted) {
  std::string fresh = MustSubmit(*q_, "fresh").id;
  std::string last_try = MustSubmit(*q_, "last").id;
  std::string cancelling = MustSubmit(*q_, "cancelling").id;
  std::string waiting = MustSubmit(*q_, "waiting").id;
  MustClaim(*q_);  // fresh: attempt 1
  MustClaim(*q_);  // last_try: attempt 1
  ASSERT_TRUE(q_->Fail(last_try, "first failure").ok());
  Job again = MustClaim(*q_);  // a retry keeps its place in line: it runs next
  ASSERT_EQ(again.id, last_try);
  ASSERT_EQ(again.attempts, 2);
  MustClaim(*q_);  // cancelling
  ASSERT_TRUE(q_->Cancel(cancelling).ok());
  Job w = MustClaim(*q_);
  ASSERT_EQ(w.id, waiting);
  ASSERT_TRUE(q_->Complete(waiting, "{}").ok());

  q_.reset();  // the server dies with three jobs running
  q_ = MustOpen(path());
  Result<RecoveryReport> r = q_->RecoverAfterCrash();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->requeued, 1);
  EXPECT_EQ(r->failed, 1);
  EXPECT_EQ(r->cancelled, 1);
  Result<Job> f = q_->Get(fresh);
  EXPECT_EQ(f->state, JobState::kQueued);
  EXPECT_EQ(f->attempts, 1);
  EXPECT_TRUE(Contains(f->error, "server stopped during attempt 1 of 2")) << f->error;
  Result<Job> l = q_->Get(last_try);
  EXPECT_EQ(l->state, JobState::kFailed);
  EXPECT_TRUE(Contains(l->error, "attempt 2 of 2")) << l->error;
  EXPECT_EQ(q_->Get(cancelling)->state, JobState::kCancelled);
  EXPECT_EQ(q_->Get(waiting)->state, JobState::kSucceeded);
  EXPECT_EQ(EventTypes(*q_, fresh).back(), "recovered");
  // Once per start.
  EXPECT_EQ(q_->RecoverAfterCrash().status().code(), Code::kInvalidArgument);
}

// The exactly-once scenario: the server dies (its connection closes) while a job runs;
// the next server recovers, a worker runs it again, and it ends once with one result.
TEST_F(StoreJobQueue, CrashMidRunStillEndsExactlyOnce) {
  std::string id = MustSubmit(*q_, R"({"prompt": "x"})").id;
  MustSubmit(*q_, "other");
  Job running = MustClaim(*q_, "gpu0");
  ASSERT_EQ(running.id, id);
  ASSERT_TRUE(q_->AddEvent(id, "progress", R"({"step": 3})").ok());
  q_.reset();  // crash: no Complete, no Fail

  q_ = MustOpen(path());
  ASSERT_TRUE(q_->RecoverAfterCrash().ok());
  Job retry = MustClaim(*q_, "gpu0");
  EXPECT_EQ(retry.id, id);  // it keeps its place: oldest first
  EXPECT_EQ(retry.attempts, 2);
  ASSERT_TRUE(q_->Complete(id, R"({"images": ["i_a"]})").ok());
  EXPECT_EQ(q_->Complete(id, R"({"images": ["i_b"]})").status().code(), Code::kInvalidArgument);

  Result<Job> done = q_->Get(id);
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->result_json, R"({"images": ["i_a"]})");
  std::vector<std::string> types = EventTypes(*q_, id);
  EXPECT_EQ(std::count(types.begin(), types.end(), "succeeded"), 1);
  EXPECT_EQ(types, (std::vector<std::string>{"queued", "running", "progress", "recovered",
                                             "running", "succeeded"}));
  Result<QueueStats> s = q_->Stats();
  EXPECT_EQ(s->succeeded, 1);
  EXPECT_EQ(s->queued, 1);  // "other" never ran, and still waits
  EXPECT_EQ(s->running, 0);
}

// 4 producers submit 50 jobs each while 4 workers, each with its own connection (as
// separate processes would), claim and complete them: every job is claimed exactly once.
TEST_F(StoreJobQueue, ConcurrentClaimersTakeEachJobOnce) {
  constexpr int kThreads = 4, kPerThread = 50, kTotal = kThreads * kPerThread;
  std::mutex mu;
  std::map<std::string, int> claims;
  std::atomic<int> completed{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!q_->Submit("txt2img", std::to_string(t * 1000 + i), i % 3).ok()) ++errors;
      }
    });
  }
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto q = MustOpen(path());
      if (q == nullptr) return;
      std::string worker = "w" + std::to_string(t);
      while (completed.load() < kTotal && errors.load() == 0) {
        Result<std::optional<Job>> job = q->ClaimNext(worker);
        if (!job.ok()) {
          ++errors;
          ADD_FAILURE() << job.status().ToString();
          return;
        }
        if (!job->has_value()) {
          std::this_thread::yield();
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          ++claims[(*job)->id];
        }
        if (!q->Complete((*job)->id, "{}").ok()) ++errors;
        ++completed;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(static_cast<int>(claims.size()), kTotal);
  for (const auto& [id, n] : claims) EXPECT_EQ(n, 1) << id << " claimed " << n << " times";
  Result<QueueStats> s = q_->Stats();
  EXPECT_EQ(s->succeeded, kTotal);
  EXPECT_EQ(s->queued + s->running + s->failed + s->cancelled, 0);
}

// Many threads on ONE queue object: the mutex serializes them; still each job once.
TEST_F(StoreJobQueue, SharedQueueObjectIsThreadSafe) {
  constexpr int kJobs = 100;
  for (int i = 0; i < kJobs; ++i) MustSubmit(*q_, "x", i % 4);
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<int> dupes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (true) {
        Result<std::optional<Job>> job = q_->ClaimNext("w");
        if (!job.ok() || !job->has_value()) return;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!seen.insert((*job)->id).second) ++dupes;
        }
        (void)q_->Complete((*job)->id, "{}");
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(dupes.load(), 0);
  EXPECT_EQ(static_cast<int>(seen.size()), kJobs);
}

// kill -9 durability: a child process submits jobs, reports each id to the parent only
// after Submit returned, then SIGKILLs itself with its database open (no close, no
// checkpoint). Every acknowledged job must be in the file.
TEST(StoreJobQueueDurability, AcknowledgedJobsSurviveKill9) {
  testing::TempDir dir;
  const std::string path = dir.File("easel.db");
  constexpr int kJobs = 25;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto q = SqliteJobQueue::Open(path);
    if (!q.ok()) _exit(3);
    for (int i = 0; i < kJobs; ++i) {
      Result<Job> job = (*q)->Submit("txt2img", "{\"n\": " + std::to_string(i) + "}");
      if (!job.ok()) _exit(4);
      std::string line = job->id + "\n";
      if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
    }
    // One job mid-run when the process dies.
    if (!(*q)->ClaimNext("gpu0").ok()) _exit(6);
    if (write(fds[1], "claimed\n", 8) != 8) _exit(7);
    raise(SIGKILL);
    _exit(8);  // not reached
  }
  close(fds[1]);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  std::vector<std::string> ids;
  size_t start = 0;
  bool claimed = false;
  while (start < got.size()) {
    size_t end = got.find('\n', start);
    std::string line = got.substr(start, end - start);
    if (line == "claimed") {
      claimed = true;
    } else {
      ids.push_back(line);
    }
    start = end + 1;
  }
  ASSERT_EQ(static_cast<int>(ids.size()), kJobs);
  ASSERT_TRUE(claimed);

  auto q = MustOpen(path);
  ASSERT_NE(q, nullptr);
  for (int i = 0; i < kJobs; ++i) {
    Result<Job> job = q->Get(ids[static_cast<size_t>(i)]);
    ASSERT_TRUE(job.ok()) << "acknowledged job " << i << " lost: " << job.status().ToString();
    EXPECT_EQ(job->request_json, "{\"n\": " + std::to_string(i) + "}");
  }
  Result<RecoveryReport> r = q->RecoverAfterCrash();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->requeued, 1);
  EXPECT_EQ(q->Stats()->queued, kJobs);
  // And all of them run to an end once.
  int ran = 0;
  while (true) {
    Result<std::optional<Job>> job = q->ClaimNext("gpu0");
    ASSERT_TRUE(job.ok());
    if (!job->has_value()) break;
    ASSERT_TRUE(q->Complete((*job)->id, "{}").ok());
    ++ran;
  }
  EXPECT_EQ(ran, kJobs);
}

}  // namespace
}  // namespace easel::store

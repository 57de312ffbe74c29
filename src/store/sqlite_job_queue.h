// SqliteJobQueue: the JobQueue (job_queue.h) in Easel's SQLite database.
//
// Durability: every change is one transaction committed with synchronous=FULL in WAL mode,
// so a method that returned OK survives kill -9 and power loss.
// Concurrency: one connection per SqliteJobQueue, guarded by a mutex: calls from many
// threads run one at a time (a call is a few hundred microseconds plus one fsync). Several
// SqliteJobQueue objects, in one process or several, may share the file: each read-modify-
// write runs in a BEGIN IMMEDIATE transaction, so ClaimNext hands a job to one of them only.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/database.h"
#include "store/job_queue.h"

namespace easel::store {

struct SqliteJobQueueOptions {
  int max_attempts = 2;  // claims a new job gets: 2 is one retry (1..10)
  DatabaseOptions database;
};

class SqliteJobQueue final : public JobQueue {
 public:
  // Opens (creating and migrating) the Easel database at `db_path`.
  static Result<std::unique_ptr<SqliteJobQueue>> Open(const std::string& db_path,
                                                      SqliteJobQueueOptions options = {});

  Result<Job> Submit(const std::string& kind, const std::string& request_json,
                     int priority = 0) override;
  Result<std::optional<Job>> ClaimNext(const std::string& worker,
                                       const std::vector<std::string>& kinds = {}) override;
  Result<Job> Complete(const std::string& id, const std::string& result_json) override;
  Result<Job> Fail(const std::string& id, const std::string& error) override;
  Result<Job> Cancel(const std::string& id) override;
  Result<Job> MarkCancelled(const std::string& id) override;
  Result<Job> Get(const std::string& id) override;
  Result<JobPage> List(const JobFilter& filter) override;
  Result<QueueStats> Stats() override;
  Result<RecoveryReport> RecoverAfterCrash() override;
  Result<JobEvent> AddEvent(const std::string& job_id, const std::string& type,
                            const std::string& payload_json) override;
  Result<std::vector<JobEvent>> Events(const std::string& job_id, int64_t since_seq = 0,
                                       int limit = 1000) override;

 private:
  SqliteJobQueue(std::unique_ptr<Database> db, SqliteJobQueueOptions options);

  // All below: called with mu_ held, inside a transaction where they write.
  Job Load(const std::string& id);  // throws kNotFound
  void Save(const Job& job);        // writes the fields a transition may change
  JobEvent InsertEvent(const std::string& job_id, const std::string& type,
                       const std::string& payload_json);

  std::mutex mu_;
  std::unique_ptr<Database> db_;  // guarded by mu_
  SqliteJobQueueOptions options_;
  bool recovered_ = false;  // guarded by mu_
};

}  // namespace easel::store

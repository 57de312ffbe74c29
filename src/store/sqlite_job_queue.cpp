// SqliteJobQueue (see sqlite_job_queue.h). Each transition is: load the job, check the
// state allows it, change the struct, save it and append its event, in one transaction.
#include "store/sqlite_job_queue.h"

#include <nlohmann/json.hpp>

#include "store/easel_schema.h"
#include "store/guarded.h"
#include "store/ids.h"

namespace easel::store {
namespace {

constexpr const char* kJobColumns =
    "id, kind, state, priority, request_json, result_json, attempts, max_attempts, error, "
    "worker, created_ms, started_ms, finished_ms, cancel_requested";

constexpr size_t kMaxErrorBytes = 16 * 1024;

Job ReadJob(const Statement& st, const std::string& db_path) {
  Job job;
  job.id = st.Text(0);
  job.kind = st.Text(1);
  std::string state = st.Text(2);
  std::optional<JobState> parsed = ParseJobState(state);
  if (!parsed) {
    throw Error(Code::kCorrupt, "database '" + db_path + "': job '" + job.id +
                                    "' has the unknown state '" + state + "'");
  }
  job.state = *parsed;
  job.priority = static_cast<int>(st.Int(3));
  job.request_json = st.Text(4);
  job.result_json = st.Text(5);
  job.attempts = static_cast<int>(st.Int(6));
  job.max_attempts = static_cast<int>(st.Int(7));
  job.error = st.Text(8);
  job.worker = st.Text(9);
  job.created_ms = st.Int(10);
  job.started_ms = st.Int(11);
  job.finished_ms = st.Int(12);
  job.cancel_requested = st.Int(13) != 0;
  return job;
}

JobEvent ReadEvent(const Statement& st) {
  JobEvent e;
  e.seq = st.Int(0);
  e.job_id = st.Text(1);
  e.type = st.Text(2);
  e.payload_json = st.Text(3);
  e.created_ms = st.Int(4);
  return e;
}

// Event payloads are built here from our own values; text that is not UTF-8 (an error
// message from a library) is replaced, not refused.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// For messages: ids are echoed back, so a hostile one is cut short.
std::string Quoted(const std::string& id) {
  return "'" + (id.size() > 64 ? id.substr(0, 64) + "..." : id) + "'";
}

bool IsWord(const std::string& s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string Truncate(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) --end;
  return s.substr(0, end) + "...";
}

[[noreturn]] void ThrowState(const Job& job, const char* action, const char* wanted) {
  throw Error(Code::kInvalidArgument, "job " + Quoted(job.id) + " is " + JobStateName(job.state) +
                                          ", not " + wanted + ": only a " + wanted + " job can " +
                                          action);
}

}  // namespace

SqliteJobQueue::SqliteJobQueue(std::unique_ptr<Database> db, SqliteJobQueueOptions options)
    : db_(std::move(db)), options_(std::move(options)) {}

Result<std::unique_ptr<SqliteJobQueue>> SqliteJobQueue::Open(const std::string& db_path,
                                                             SqliteJobQueueOptions options) {
  if (options.max_attempts < 1 || options.max_attempts > 10) {
    return InvalidArgument("max_attempts is " + std::to_string(options.max_attempts) +
                           ": it must be 1..10 (2 means one retry)");
  }
  Result<std::unique_ptr<Database>> db = OpenEaselDatabase(db_path, options.database);
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteJobQueue>(new SqliteJobQueue(std::move(*db), std::move(options)));
}

Job SqliteJobQueue::Load(const std::string& id) {
  if (IsValidId(id)) {
    Statement st = db_->Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?");
    st.Bind(1, id);
    if (st.Step()) return ReadJob(st, db_->path());
  }
  throw Error(Code::kNotFound, "no job " + Quoted(id));
}

void SqliteJobQueue::Save(const Job& job) {
  Statement st = db_->Prepare(
      "UPDATE jobs SET state = ?, result_json = ?, attempts = ?, error = ?, worker = ?, "
      "started_ms = ?, finished_ms = ?, cancel_requested = ? WHERE id = ?");
  st.Bind(1, JobStateName(job.state))
      .Bind(2, job.result_json)
      .Bind(3, job.attempts)
      .Bind(4, job.error)
      .Bind(5, job.worker)
      .Bind(6, job.started_ms)
      .Bind(7, job.finished_ms)
      .Bind(8, job.cancel_requested ? 1 : 0)
      .Bind(9, job.id);
  st.Run();
}

JobEvent SqliteJobQueue::InsertEvent(const std::string& job_id, const std::string& type,
                                     const std::string& payload_json) {
  JobEvent e;
  e.job_id = job_id;
  e.type = type;
  e.payload_json = payload_json.empty() ? "{}" : payload_json;
  e.created_ms = NowMs();
  Statement st = db_->Prepare(
      "INSERT INTO job_events (job_id, type, payload_json, created_ms) VALUES (?, ?, ?, ?)");
  st.Bind(1, e.job_id).Bind(2, e.type).Bind(3, e.payload_json).Bind(4, e.created_ms);
  st.Run();
  e.seq = db_->LastInsertRowid();
  return e;
}

Result<Job> SqliteJobQueue::Submit(const std::string& kind, const std::string& request_json,
                                   int priority) {
  if (!IsWord(kind, 32)) {
    return InvalidArgument("job kind " + Quoted(kind) +
                           " is not a kind name: use 1..32 of a-z, 0-9 and _ (as in txt2img)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Job job;
    job.id = NewId("j_");
    job.kind = kind;
    job.priority = priority;
    job.request_json = request_json;
    job.max_attempts = options_.max_attempts;
    job.created_ms = NowMs();
    Transaction tx(*db_);
    Statement st = db_->Prepare(
        "INSERT INTO jobs (id, kind, state, priority, request_json, max_attempts, created_ms) "
        "VALUES (?, ?, 'queued', ?, ?, ?, ?)");
    st.Bind(1, job.id)
        .Bind(2, job.kind)
        .Bind(3, job.priority)
        .Bind(4, job.request_json)
        .Bind(5, job.max_attempts)
        .Bind(6, job.created_ms);
    st.Run();
    InsertEvent(job.id, "queued", Dump({{"kind", kind}, {"priority", priority}}));
    tx.Commit();
    return job;
  });
}

Result<std::optional<Job>> SqliteJobQueue::ClaimNext(const std::string& worker,
                                                     const std::vector<std::string>& kinds) {
  if (worker.empty() || worker.size() > 256)
    return InvalidArgument("a worker name must have 1..256 characters");
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&]() -> std::optional<Job> {
    // The write lock is taken before the SELECT, so no other connection can claim the same
    // row between it and the UPDATE.
    Transaction tx(*db_);
    std::string sql = "SELECT id FROM jobs WHERE state = 'queued'";
    if (!kinds.empty()) {
      sql += " AND kind IN (?";
      for (size_t i = 1; i < kinds.size(); ++i) sql += ", ?";
      sql += ")";
    }
    sql += " ORDER BY priority DESC, seq LIMIT 1";
    Statement pick = db_->Prepare(sql);
    for (size_t i = 0; i < kinds.size(); ++i) pick.Bind(static_cast<int>(i) + 1, kinds[i]);
    if (!pick.Step()) return std::nullopt;  // rolls back the empty transaction
    Job job = Load(pick.Text(0));
    job.state = JobState::kRunning;
    job.attempts += 1;
    job.worker = worker;
    job.started_ms = NowMs();
    Save(job);
    InsertEvent(job.id, "running",
                Dump({{"worker", worker}, {"attempt", job.attempts}, {"of", job.max_attempts}}));
    tx.Commit();
    return job;
  });
}

Result<Job> SqliteJobQueue::Complete(const std::string& id, const std::string& result_json) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Job job = Load(id);
    if (job.state != JobState::kRunning) ThrowState(job, "complete", "running");
    job.state = JobState::kSucceeded;
    job.result_json = result_json;
    job.finished_ms = NowMs();
    Save(job);
    InsertEvent(job.id, "succeeded", "{}");
    tx.Commit();
    return job;
  });
}

Result<Job> SqliteJobQueue::Fail(const std::string& id, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Job job = Load(id);
    if (job.state != JobState::kRunning) ThrowState(job, "fail", "running");
    job.error = Truncate(error.empty() ? "unknown error" : error, kMaxErrorBytes);
    nlohmann::json payload = {
        {"error", job.error}, {"attempt", job.attempts}, {"of", job.max_attempts}};
    if (job.cancel_requested) {
      job.state = JobState::kCancelled;
      job.finished_ms = NowMs();
      Save(job);
      InsertEvent(job.id, "cancelled", Dump(payload));
    } else if (job.attempts < job.max_attempts) {
      job.state = JobState::kQueued;
      Save(job);
      InsertEvent(job.id, "retry", Dump(payload));
    } else {
      job.state = JobState::kFailed;
      job.finished_ms = NowMs();
      Save(job);
      InsertEvent(job.id, "failed", Dump(payload));
    }
    tx.Commit();
    return job;
  });
}

Result<Job> SqliteJobQueue::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Job job = Load(id);
    if (job.state == JobState::kQueued) {
      job.state = JobState::kCancelled;
      job.cancel_requested = true;
      job.finished_ms = NowMs();
      Save(job);
      InsertEvent(job.id, "cancelled", "{}");
    } else if (job.state == JobState::kRunning && !job.cancel_requested) {
      job.cancel_requested = true;
      Save(job);
      InsertEvent(job.id, "cancel_requested", "{}");
    } else {
      return job;  // already ended, or already asked: nothing changes
    }
    tx.Commit();
    return job;
  });
}

Result<Job> SqliteJobQueue::MarkCancelled(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Job job = Load(id);
    if (job.state != JobState::kRunning) ThrowState(job, "be marked cancelled", "running");
    job.state = JobState::kCancelled;
    job.finished_ms = NowMs();
    Save(job);
    InsertEvent(job.id, "cancelled", "{}");
    tx.Commit();
    return job;
  });
}

Result<Job> SqliteJobQueue::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] { return Load(id); });
}

Result<JobPage> SqliteJobQueue::List(const JobFilter& filter) {
  if (filter.limit < 1 || filter.limit > 1000)
    return InvalidArgument("limit is " + std::to_string(filter.limit) + ": use 1..1000");
  if (filter.offset < 0)
    return InvalidArgument("offset is " + std::to_string(filter.offset) + ": use 0 or more");
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    // One read transaction: the count and the page see the same snapshot.
    Transaction tx(*db_, Transaction::Mode::kDeferred);
    std::string where = filter.state ? " WHERE state = ?" : "";
    JobPage page;
    Statement count = db_->Prepare("SELECT count(*) FROM jobs" + where);
    if (filter.state) count.Bind(1, JobStateName(*filter.state));
    count.Step();
    page.total = count.Int(0);
    Statement st = db_->Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs" + where +
                                " ORDER BY seq DESC LIMIT ? OFFSET ?");
    int i = 1;
    if (filter.state) st.Bind(i++, JobStateName(*filter.state));
    st.Bind(i, filter.limit).Bind(i + 1, filter.offset);
    while (st.Step()) page.jobs.push_back(ReadJob(st, db_->path()));
    return page;
  });
}

Result<QueueStats> SqliteJobQueue::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    QueueStats stats;
    Statement st = db_->Prepare("SELECT state, count(*) FROM jobs GROUP BY state");
    while (st.Step()) {
      std::optional<JobState> state = ParseJobState(st.Text(0));
      if (!state) continue;
      int64_t n = st.Int(1);
      switch (*state) {
        case JobState::kQueued: stats.queued = n; break;
        case JobState::kRunning: stats.running = n; break;
        case JobState::kSucceeded: stats.succeeded = n; break;
        case JobState::kFailed: stats.failed = n; break;
        case JobState::kCancelled: stats.cancelled = n; break;
      }
    }
    return stats;
  });
}

Result<RecoveryReport> SqliteJobQueue::RecoverAfterCrash() {
  std::lock_guard<std::mutex> lock(mu_);
  if (recovered_) {
    return InvalidArgument(
        "RecoverAfterCrash was already called on this queue: it runs once per server start, "
        "before workers claim jobs");
  }
  Result<RecoveryReport> report = Guarded([&] {
    RecoveryReport r;
    Transaction tx(*db_);
    std::vector<std::string> ids;
    Statement running = db_->Prepare("SELECT id FROM jobs WHERE state = 'running' ORDER BY seq");
    while (running.Step()) ids.push_back(running.Text(0));
    for (const std::string& id : ids) {
      Job job = Load(id);
      nlohmann::json payload = {{"attempt", job.attempts}, {"of", job.max_attempts}};
      job.error = "the server stopped during attempt " + std::to_string(job.attempts) + " of " +
                  std::to_string(job.max_attempts);
      if (job.cancel_requested) {
        job.state = JobState::kCancelled;
        job.finished_ms = NowMs();
        ++r.cancelled;
        Save(job);
        InsertEvent(id, "cancelled", Dump(payload));
      } else if (job.attempts >= job.max_attempts) {
        job.state = JobState::kFailed;
        job.finished_ms = NowMs();
        ++r.failed;
        Save(job);
        payload["error"] = job.error;
        InsertEvent(id, "failed", Dump(payload));
      } else {
        job.state = JobState::kQueued;
        ++r.requeued;
        Save(job);
        InsertEvent(id, "recovered", Dump(payload));
      }
    }
    tx.Commit();
    return r;
  });
  if (report.ok()) recovered_ = true;
  return report;
}

Result<JobEvent> SqliteJobQueue::AddEvent(const std::string& job_id, const std::string& type,
                                          const std::string& payload_json) {
  if (!IsWord(type, 32)) {
    return InvalidArgument("event type " + Quoted(type) +
                           " is not a type name: use 1..32 of a-z, 0-9 and _ (as in progress)");
  }
  if (!payload_json.empty()) {
    nlohmann::json parsed =
        nlohmann::json::parse(payload_json, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object())
      return InvalidArgument("an event payload must be a JSON object, as in {\"step\": 3}");
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Load(job_id);  // kNotFound for an unknown job
    JobEvent e = InsertEvent(job_id, type, payload_json);
    tx.Commit();
    return e;
  });
}

Result<std::vector<JobEvent>> SqliteJobQueue::Events(const std::string& job_id, int64_t since_seq,
                                                     int limit) {
  if (limit < 1 || limit > 10000)
    return InvalidArgument("limit is " + std::to_string(limit) + ": use 1..10000");
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_, Transaction::Mode::kDeferred);
    Load(job_id);
    std::vector<JobEvent> events;
    Statement st = db_->Prepare(
        "SELECT seq, job_id, type, payload_json, created_ms FROM job_events "
        "WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?");
    st.Bind(1, job_id).Bind(2, since_seq).Bind(3, limit);
    while (st.Step()) events.push_back(ReadEvent(st));
    return events;
  });
}

}  // namespace easel::store

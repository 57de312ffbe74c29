// Database, Statement and Transaction over the SQLite C API (see database.h).
#include "store/database.h"

#include <sqlite3.h>

#include <utility>

namespace easel::store {
namespace {

Code CodeFor(int rc) {
  if (rc == SQLITE_CONSTRAINT_COMMITHOOK) return Code::kIo;  // a vetoed commit, as a failed disk
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL: return Code::kIo;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Code::kCorrupt;
    case SQLITE_NOMEM: return Code::kOutOfMemory;
    case SQLITE_CONSTRAINT: return Code::kInvalidArgument;
    default: return Code::kInternal;
  }
}

// What a user can do about it, by SQLite's primary code.
const char* HintFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ": another process kept the database busy; is a second Easel server using the "
             "same data dir?";
    case SQLITE_FULL: return ": the disk is full; free some space and try again";
    case SQLITE_CANTOPEN: return ": check that the folder exists and that Easel may write to it";
    case SQLITE_READONLY:
    case SQLITE_PERM: return ": Easel needs write access to the database file and its folder";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ": the file is damaged or is not an SQLite database. Easel has not changed it; "
             "move it aside to start a new one, or restore it from a backup";
    default: return "";
  }
}

std::string SqlExcerpt(std::string_view sql) {
  constexpr size_t kMax = 160;
  std::string s(sql.substr(0, kMax));
  for (char& c : s)
    if (c == '\n' || c == '\t') c = ' ';
  if (sql.size() > kMax) s += "...";
  return s;
}

// The commit hook: a non-zero return turns the COMMIT into a ROLLBACK.
int CommitHook(void* arg) {
  const auto* fail = static_cast<const std::function<bool()>*>(arg);
  return (*fail)() ? 1 : 0;
}

}  // namespace

// ---- Database ---------------------------------------------------------------------

Database::Database(sqlite3* db, std::string path, DatabaseOptions options)
    : db_(db), path_(std::move(path)), options_(std::move(options)) {}

Database::~Database() {
  // Statements are finalized by their owners first (they cannot outlive the caller's use);
  // sqlite3_close_v2 defers the close until any stragglers are finalized.
  sqlite3_close_v2(db_);
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, DatabaseOptions options) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return Status(CodeFor(rc), "database '" + path + "': cannot open: " + msg + HintFor(rc));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  std::unique_ptr<Database> db(new Database(raw, path, std::move(options)));
  if (db->options_.fail_commit_for_testing)
    sqlite3_commit_hook(raw, &CommitHook, &db->options_.fail_commit_for_testing);

  Status st = CatchAll([&] {
    // Read before any write: a file that is not a database fails here, untouched.
    {
      Statement probe = db->Prepare("SELECT count(*) FROM sqlite_schema");
      probe.Step();
    }  // finalized: an active statement would hold a read transaction open
    Statement wal = db->Prepare("PRAGMA journal_mode=WAL");
    std::string mode = wal.Step() ? wal.Text(0) : "";
    if (mode != "wal" && mode != "memory") {
      throw Error(Code::kUnsupported,
                  "database '" + path + "': cannot switch to WAL mode (it stays in '" + mode +
                      "' mode): the file system may not support shared memory; keep the data "
                      "dir on a local disk");
    }
    db->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
  });
  if (!st.ok()) return st;
  return db;
}

Status Database::ErrorStatus(int rc, std::string_view doing) const {
  const char* msg =
      (sqlite3_errcode(db_) & 0xff) == (rc & 0xff) ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return Status(CodeFor(rc),
                "database '" + path_ + "': " + std::string(doing) + ": " + msg + HintFor(rc));
}

void Database::Throw(int rc, std::string_view doing) const {
  throw Error(ErrorStatus(rc, doing));
}

void Database::Exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) Throw(rc, "cannot run '" + SqlExcerpt(sql) + "'");
}

Statement Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), 0, &stmt, &tail);
  if (rc != SQLITE_OK) Throw(rc, "cannot prepare '" + SqlExcerpt(sql) + "'");
  Statement result(this, stmt);
  if (stmt == nullptr) throw Error(Code::kInternal, "empty SQL statement");
  for (const char* p = tail; p != nullptr && p < sql.data() + sql.size(); ++p) {
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != ';')
      throw Error(Code::kInternal, "Prepare takes one statement: '" + SqlExcerpt(sql) + "'");
  }
  return result;
}

int64_t Database::PragmaInt(std::string_view name) {
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || c == '_'))
      throw Error(Code::kInternal, "bad pragma name '" + std::string(name) + "'");
  }
  Statement st = Prepare("PRAGMA " + std::string(name));
  if (!st.Step()) throw Error(Code::kInternal, "PRAGMA " + std::string(name) + " gave no value");
  return st.Int(0);
}

int64_t Database::LastInsertRowid() const {
  return sqlite3_last_insert_rowid(db_);
}
int64_t Database::Changes() const {
  return sqlite3_changes64(db_);
}
bool Database::InTransaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

// ---- Statement --------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

void Statement::Check(int rc, const char* doing) const {
  if (rc == SQLITE_OK) return;
  std::string what = doing;
  if (CodeFor(rc) == Code::kInternal) what += " '" + SqlExcerpt(sqlite3_sql(stmt_)) + "'";
  db_->Throw(rc, what);
}

Statement& Statement::Bind(int index, int64_t value) {
  Check(sqlite3_bind_int64(stmt_, index, value), "cannot bind a parameter");
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  Check(sqlite3_bind_double(stmt_, index, value), "cannot bind a parameter");
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  // A null pointer would bind SQL NULL: an empty view binds the empty string.
  const char* data = text.data() != nullptr ? text.data() : "";
  Check(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
        "cannot bind a parameter");
  return *this;
}

Statement& Statement::BindNull(int index) {
  Check(sqlite3_bind_null(stmt_, index), "cannot bind a parameter");
  return *this;
}

bool Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Check(rc, "cannot run a statement");
  return false;
}

void Statement::Run() {
  while (Step()) {
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}
double Statement::Double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::Text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Transaction ------------------------------------------------------------------

Transaction::Transaction(Database& db, Mode mode) : db_(db) {
  if (db_.InTransaction())
    throw Error(Code::kInternal, "database '" + db_.path() + "': transactions do not nest");
  db_.Exec(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
}

Transaction::~Transaction() {
  // Some errors (a full disk, an I/O error) roll back by themselves: only roll back an
  // open transaction. A failed ROLLBACK leaves nothing to do in a destructor.
  if (!done_ && db_.InTransaction()) sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::Commit() {
  done_ = true;
  int rc = sqlite3_exec(db_.db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return;
  Status st = db_.ErrorStatus(rc, "cannot commit");
  if (db_.InTransaction()) sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
  throw Error(st);
}

}  // namespace easel::store

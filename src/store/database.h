// An RAII wrapper over one SQLite connection: open (WAL, synchronous=FULL, foreign keys,
// busy timeout), prepared statements with bind/step helpers, and transactions as a guard
// that rolls back unless committed. The one place in Easel that includes <sqlite3.h>
// besides the SQLite stores built on it (src/store/sqlite_*.cpp).
//
// Errors: Database::Open returns a Result. Everything else throws easel::Error (the
// "inside a module" style of util/status.h); the stores built on it (SqliteJobQueue,
// SqliteHistory) catch at their public methods and return Status/Result. Every message names
// the database file, what was being done, and SQLite's own text, e.g.
//   "i/o error: database '/data/easel.db': cannot commit: disk I/O error"
// SQLite codes map to ours: BUSY/LOCKED/IOERR/FULL/CANTOPEN/READONLY/PERM -> kIo,
// CORRUPT/NOTADB -> kCorrupt, NOMEM -> kOutOfMemory, CONSTRAINT -> kInvalidArgument,
// anything else (a malformed SQL string: a bug) -> kInternal.
//
// Thread-safety: a Database and its Statements belong to one thread at a time; the caller
// serializes access (the stores guard theirs with a mutex). Several Database objects (in
// one process or several) may open the same file: WAL lets readers run beside the one
// writer, and a writer waits up to busy_timeout_ms for another writer's transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace easel::store {

struct DatabaseOptions {
  // How long a write waits for another connection's write transaction before failing
  // with kIo "database is locked".
  int busy_timeout_ms = 10000;
  // Tests only: consulted before each COMMIT; returning true makes that COMMIT fail and
  // roll back, as a full disk or an I/O error would. Lets tests prove that a failed commit
  // leaves nothing behind.
  std::function<bool()> fail_commit_for_testing;
};

class Statement;

class Database {
 public:
  // Opens (creating if absent) the database file at `path`, then sets journal_mode=WAL,
  // synchronous=FULL (a committed transaction is on disk: it survives kill -9 and power
  // loss), foreign_keys=ON and the busy timeout. The file is read before anything is
  // written to it, so a file that is not a database fails with kCorrupt and is left
  // untouched. A missing folder or an unwritable file fails with kIo.
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                DatabaseOptions options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& path() const { return path_; }

  // Runs one or more ';'-separated statements that take no parameters (schema, pragmas).
  void Exec(std::string_view sql);
  // Compiles one statement. Throws kInternal for malformed SQL (a bug in Easel).
  Statement Prepare(std::string_view sql);
  // The value of a pragma that returns one integer ("user_version", "application_id").
  int64_t PragmaInt(std::string_view name);

  // The rowid of the last INSERT and the rows changed by the last statement.
  int64_t LastInsertRowid() const;
  int64_t Changes() const;
  bool InTransaction() const;

  // The error for SQLite result code `rc` while `doing` something ("cannot commit"),
  // with SQLite's message and this database's path.
  Status ErrorStatus(int rc, std::string_view doing) const;
  [[noreturn]] void Throw(int rc, std::string_view doing) const;

  // The raw handle, for the FTS5 tokenizer (sqlite_search.cpp) and nothing else.
  sqlite3* handle() const { return db_; }

 private:
  friend class Transaction;
  Database(sqlite3* db, std::string path, DatabaseOptions options);

  sqlite3* db_;
  std::string path_;
  DatabaseOptions options_;
};

// One prepared statement. Bind indexes start at 1 (SQLite's ?NNN); column indexes at 0.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);  // copied: the view may die after
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& BindNull(int index);

  // Advances: true when a row is ready to read, false when the statement is done.
  bool Step();
  // Steps until done (for INSERT/UPDATE/DELETE; rows a RETURNING clause yields are skipped).
  void Run();
  // Back to before the first Step, with the bindings cleared, to run it again.
  void Reset();

  int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;  // "" for NULL
  bool IsNull(int column) const;

 private:
  friend class Database;
  Statement(const Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void Check(int rc, const char* doing) const;

  const Database* db_;
  sqlite3_stmt* stmt_;
};

// A transaction that rolls back when it goes out of scope uncommitted (an exception, an
// early return). Transactions do not nest: beginning one inside another throws kInternal.
class Transaction {
 public:
  enum class Mode {
    kDeferred,   // takes the write lock at the first write: for read-only work
    kImmediate,  // takes the write lock now: for read-then-write, so two writers never
                 // deadlock on a lock upgrade (the second waits for busy_timeout instead)
  };
  explicit Transaction(Database& db, Mode mode = Mode::kImmediate);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Commits: when it returns the transaction is durable. On failure it throws, and the
  // transaction has been rolled back (nothing of it is in the database).
  void Commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace easel::store

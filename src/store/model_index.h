// SqliteModelIndex: the model library's rows (table `models`, schema v3) in Easel's
// database: upsert and remove in batches (one transaction each), the stamps (size, mtime,
// sidecar signature) an incremental rescan compares against, filtered listing, and the
// background hasher's queue (rows without a SHA-256).
//
// Concurrency: one connection per object, guarded by a mutex (calls run one at a time). Other
// objects (the hasher's, another process's) may open the same file: WAL lets them read
// while one writes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "library/model_record.h"
#include "library/model_roots.h"
#include "store/database.h"
#include "util/status.h"

namespace easel::store {

struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sidecar_sig;
};

struct ModelFilter {
  std::string kind;    // KindName, "" for all
  std::string family;  // FamilyName, "" for all
  std::string tag;     // rows carrying this tag (lowercase), "" for all
  std::string text;    // substring of the name or path (case-insensitive), "" for all
  bool errors_only = false;
  int limit = 0;  // 0: no limit
  int offset = 0;
};

struct PendingHash {
  std::string path;
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

struct CivitaiCacheEntry {
  int status = 0;          // HTTP status of the lookup (200, 404)
  std::string body;        // the answer (200 only)
  int64_t fetched_ms = 0;  // 0: not cached
};

class SqliteModelIndex {
 public:
  // Opens (creating and migrating) the Easel database at `db_path`.
  static Result<std::unique_ptr<SqliteModelIndex>> Open(const std::string& db_path,
                                                        DatabaseOptions options = {});

  // Stamps of every row whose root is `root` ("" for every row), by path.
  Result<std::map<std::string, FileStamp>> Stamps(const std::string& root);
  // Inserts or replaces the records (and their tags) in one transaction. A record whose
  // sha256 is empty keeps the stored hash when size and mtime are unchanged.
  Status Upsert(const std::vector<library::ModelRecord>& records);
  Status Remove(const std::vector<std::string>& paths);
  Result<library::ModelRecord> Get(const std::string& path);
  // By full SHA-256 or an AutoV2 prefix (10 hex digits): the first match by path.
  Result<library::ModelRecord> FindByHash(const std::string& hash);
  // Sorted by kind, family, name, path.
  Result<std::vector<library::ModelRecord>> List(const ModelFilter& filter = {});
  // Counts by kind, plus "total" and "errors".
  Result<std::map<std::string, int64_t>> Counts();
  // Readable rows counted by kind, then family: {"lora": {"SDXL": 180, "SD1": 40}, ...}.
  Result<std::map<std::string, std::map<std::string, int64_t>>> CountsByKindAndFamily();

  // The remembered scan roots (added by `easel models scan DIR`), by path.
  Status AddRoots(const std::vector<library::ModelRoot>& roots);
  Result<std::vector<library::ModelRoot>> Roots();
  // Forgets a root and its rows.
  Status RemoveRoot(const std::string& path);

  // The opt-in CivitAI lookup cache (library/civitai.h), by SHA-256.
  Result<CivitaiCacheEntry> CivitaiCached(const std::string& sha256);
  Status PutCivitaiCache(const std::string& sha256, int status, const std::string& body,
                         int64_t fetched_ms);

  // Rows that have no hash yet (readable files only), oldest scan first.
  Result<std::vector<PendingHash>> PendingHashes(int limit);
  // Stores `sha256` (and its AutoV2) if the row still has this size and mtime; returns
  // whether it did.
  Result<bool> SetHash(const PendingHash& file, const std::string& sha256);

 private:
  explicit SqliteModelIndex(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  library::ModelRecord ReadRow(Statement& st);

  std::mutex mu_;
  std::unique_ptr<Database> db_;
};

}  // namespace easel::store

// SHA-256 of library files, computed once per (path, size, mtime) and stored in the index
// (an unchanged file is never hashed again; a changed one loses its hash at the rescan and
// is hashed anew). Hashing a 7 GB checkpoint takes ~20 s, so it runs apart from scanning:
// HashPending() on the caller's thread (`easel models scan --hash`), or a BackgroundHasher
// thread (the server).
//
// Thread-safety: HashPending uses only the index it is given. A BackgroundHasher owns one
// thread and its own database connection; Wake() and its destructor may be called from any
// thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/model_index.h"
#include "util/status.h"

namespace easel::library {

struct HashReport {
  int64_t hashed = 0;
  int64_t skipped = 0;  // changed on disk since the scan, or unreadable: left for the rescan
  int64_t bytes = 0;
};

// Hashes up to `max_files` rows without a hash (0: all). A file whose size or mtime differs
// from its row is skipped (the next scan re-reads it). Fails only if the index fails.
Result<HashReport> HashPending(store::SqliteModelIndex& index, int64_t max_files = 0,
                               const std::atomic<bool>* cancel = nullptr,
                               const std::function<void(const std::string&)>& on_file = {});

class BackgroundHasher {
 public:
  // Starts the thread on its own connection to the database at `db_path`.
  static Result<std::unique_ptr<BackgroundHasher>> Start(const std::string& db_path);
  ~BackgroundHasher();  // stops after the current file and joins
  BackgroundHasher(const BackgroundHasher&) = delete;
  BackgroundHasher& operator=(const BackgroundHasher&) = delete;

  // New rows may need hashes (call after a scan).
  void Wake();
  // Waits until no row needs a hash (for tests and `--hash`); false on timeout.
  bool WaitIdle(int timeout_ms);
  int64_t hashed() const { return hashed_.load(); }
  // The last index error, if any (the thread keeps going).
  Status last_error();

 private:
  explicit BackgroundHasher(std::unique_ptr<store::SqliteModelIndex> index);
  void Loop();

  std::unique_ptr<store::SqliteModelIndex> index_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = true;
  bool idle_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> hashed_{0};
  Status last_error_;
  std::thread thread_;
};

}  // namespace easel::library

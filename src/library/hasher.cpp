// Background hashing of library files. See hasher.h.
#include "library/hasher.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <set>

#include "library/model_hash.h"
#include "util/sha256.h"

namespace easel::library {
namespace {

bool SameStamp(const store::PendingHash& f) {
  struct stat st {};
  if (::stat(f.path.c_str(), &st) != 0) return false;
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  return st.st_size == f.size && mtime == f.mtime_ns;
}

bool IsFolder(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Result<HashReport> HashPending(store::SqliteModelIndex& index, int64_t max_files,
                               const std::atomic<bool>* cancel,
                               const std::function<void(const std::string&)>& on_file) {
  HashReport report;
  std::set<std::string> tried;  // skipped files stay pending: do not loop on them
  while (max_files == 0 || report.hashed + report.skipped < max_files) {
    auto pending = index.PendingHashes(64 + static_cast<int>(tried.size()));
    if (!pending.ok()) return pending.status();
    bool progressed = false;
    for (const store::PendingHash& f : *pending) {
      if (cancel && cancel->load()) return report;
      if (max_files && report.hashed + report.skipped >= max_files) return report;
      if (!tried.insert(f.path).second) continue;
      progressed = true;
      if (on_file) on_file(f.path);
      // A diffusers folder is identified by its UNet weights (model_hash.h); its stamp is
      // the folder's, so only files are checked against theirs.
      const bool folder = IsFolder(f.path);
      const std::string file = folder ? HashedFileFor(f.path) : f.path;
      Result<std::string> sha =
          folder || SameStamp(f) ? Sha256File(file) : Result<std::string>(NotFound(""));
      if (!sha.ok() || (!folder && !SameStamp(f))) {
        ++report.skipped;
        continue;
      }
      auto set = index.SetHash(f, *sha);
      if (!set.ok()) return set.status();
      ++(*set ? report.hashed : report.skipped);
      if (*set) report.bytes += f.size;
    }
    if (!progressed) break;
  }
  return report;
}

Result<std::unique_ptr<BackgroundHasher>> BackgroundHasher::Start(const std::string& db_path) {
  auto index = store::SqliteModelIndex::Open(db_path);
  if (!index.ok()) return index.status();
  return std::unique_ptr<BackgroundHasher>(new BackgroundHasher(std::move(*index)));
}

BackgroundHasher::BackgroundHasher(std::unique_ptr<store::SqliteModelIndex> index)
    : index_(std::move(index)) {
  thread_ = std::thread([this] { Loop(); });
}

BackgroundHasher::~BackgroundHasher() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundHasher::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
    idle_ = false;
  }
  cv_.notify_all();
}

bool BackgroundHasher::WaitIdle(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return idle_ && !wake_; });
}

Status BackgroundHasher::last_error() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void BackgroundHasher::Loop() {
  while (!stop_) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return wake_ || stop_.load(); });
      wake_ = false;
    }
    if (stop_) break;
    auto r = HashPending(*index_, 0, &stop_);
    std::lock_guard<std::mutex> lock(mu_);
    if (r.ok())
      hashed_ += r->hashed;
    else
      last_error_ = r.status();
    if (!wake_) idle_ = true;
    cv_.notify_all();
  }
}

}  // namespace easel::library

// Model hashes: lookup in the cache and the library index, stable file hashing, and the
// background ModelHashJob. See model_hash.h.
#include "library/model_hash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "library/sha256_fast.h"
#include "store/model_index.h"
#include "util/data_dir.h"
#include "util/files.h"
#include "util/sha256.h"

namespace easel::library {
namespace fs = std::filesystem;
namespace {

struct Stamp {
  int64_t size = -1;
  int64_t mtime_ns = -1;
  uint64_t dev = 0, ino = 0;
  bool regular = false;
};

Stamp StampOf(const struct stat& st) {
  return {st.st_size, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), S_ISREG(st.st_mode)};
}

// False when `path` cannot be stat()ed.
bool StatPath(const std::string& path, Stamp* out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *out = StampOf(st);
  return true;
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  return fs::absolute(path, ec).lexically_normal().string();
}

// The cache's JSON object; empty when absent or damaged (a damaged cache is rebuilt, never
// trusted).
nlohmann::json ReadCache(const std::string& cache_file) {
  if (cache_file.empty()) return nlohmann::json::object();
  auto text = ReadFile(cache_file, 64u << 20);
  if (!text.ok()) return nlohmann::json::object();
  try {
    nlohmann::json cache = nlohmann::json::parse(*text);
    if (cache.is_object()) return cache;
  } catch (const std::exception&) {
  }
  return nlohmann::json::object();
}

std::string CachedEntry(const nlohmann::json& cache, const std::string& key, const Stamp& s) {
  auto it = cache.find(key);
  if (it != cache.end() && it->is_object() && it->value("size", int64_t{-1}) == s.size &&
      it->value("mtime_ns", int64_t{-1}) == s.mtime_ns && it->contains("sha256") &&
      (*it)["sha256"].is_string())
    return (*it)["sha256"].get<std::string>();
  return "";
}

// Best effort: the hash is good whether or not the cache takes it.
void StoreInCache(const std::string& cache_file, const std::string& key, const Stamp& s,
                  const std::string& sha) {
  if (cache_file.empty()) return;
  nlohmann::json cache = ReadCache(cache_file);  // re-read: another process may have added
  cache[key] = {{"size", s.size}, {"mtime_ns", s.mtime_ns}, {"sha256", sha}};
  std::error_code ec;
  fs::create_directories(fs::path(cache_file).parent_path(), ec);
  (void)WriteFileAtomic(cache_file, cache.dump(1));
}

bool HasIndex(const HashSources& sources) {
  std::error_code ec;
  return !sources.index_db.empty() && fs::is_regular_file(sources.index_db, ec);
}

// The library row of a model file, by its absolute path, else by its real path.
Result<ModelRecord> IndexRow(store::SqliteModelIndex& index, const std::string& model_path) {
  const std::string abs = AbsolutePath(model_path);
  auto row = index.Get(abs);
  if (row.ok()) return row;
  std::error_code ec;
  const std::string real = fs::weakly_canonical(abs, ec).string();
  if (ec || real == abs) return row;
  return index.Get(real);
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string HashedFileFor(const std::string& model_path) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) {
    for (const char* name : {"unet/diffusion_pytorch_model.safetensors",
                             "unet/diffusion_pytorch_model.fp16.safetensors"}) {
      fs::path p = fs::path(model_path) / name;
      if (fs::exists(p, ec)) return p.string();
    }
  }
  return model_path;
}

std::string DefaultHashCacheFile() {
  if (const char* d = std::getenv("EASEL_CACHE_DIR"); d && *d)
    return (fs::path(d) / "hashes.json").string();
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return (fs::path(d) / "easel" / "hashes.json").string();
  if (const char* h = std::getenv("HOME"); h && *h)
    return (fs::path(h) / ".cache" / "easel" / "hashes.json").string();
  return "";
}

HashSources DefaultHashSources(const std::string& data_dir_flag) {
  HashSources s;
  s.cache_file = DefaultHashCacheFile();
  auto dir = ResolveDataDir(data_dir_flag);
  if (dir.ok()) {
    std::string db = DatabasePath(*dir);
    std::error_code ec;
    if (fs::is_regular_file(db, ec)) s.index_db = std::move(db);
  }
  return s;
}

Result<std::string> CachedSha256(const std::string& path, const std::string& cache_file) {
  Stamp s;
  if (!StatPath(path, &s)) return NotFound("cannot hash " + path + ": " + ErrnoText(errno));
  const std::string key = AbsolutePath(path);
  if (std::string known = CachedEntry(ReadCache(cache_file), key, s); !known.empty()) return known;
  auto sha = Sha256File(path);
  if (!sha.ok()) return sha.status();
  StoreInCache(cache_file, key, s, *sha);
  return *sha;
}

std::string KnownSha256(const std::string& model_path, const HashSources& sources,
                        std::string* source) {
  const std::string file = HashedFileFor(model_path);
  Stamp s;
  if (!StatPath(file, &s)) return "";
  if (!sources.cache_file.empty()) {
    std::string known = CachedEntry(ReadCache(sources.cache_file), AbsolutePath(file), s);
    if (!known.empty()) {
      if (source) *source = "cache";
      return known;
    }
  }
  // The index stamps a diffusers folder by the folder, not by its UNet file: files only.
  if (file != model_path || !s.regular || !HasIndex(sources)) return "";
  store::DatabaseOptions options;
  options.busy_timeout_ms = 1000;  // a busy library never holds up the image
  auto index = store::SqliteModelIndex::Open(sources.index_db, options);
  if (!index.ok()) return "";
  auto row = IndexRow(**index, model_path);
  if (!row.ok() || row->size != s.size || row->mtime_ns != s.mtime_ns || !IsHex64(row->sha256))
    return "";
  if (source) *source = "index";
  return row->sha256;
}

namespace {

// Sha256FileStable, also giving the stamp of the bytes hashed (what a cache entry is keyed by).
Result<std::string> HashStable(const std::string& path, const std::atomic<bool>* cancel,
                               const std::function<void(int64_t)>& on_block, Stamp* hashed) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("cannot hash '" + path + "': it does not exist");
    return IoError("cannot read '" + path + "' to hash it: " + ErrnoText(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return IoError("cannot stat '" + path + "' to hash it: " + ErrnoText(errno));
  const Stamp before = StampOf(st);
  FastSha256 sha;
  std::vector<char> block(size_t{1} << 20);
  int64_t total = 0;
  for (;;) {
    if (cancel && cancel->load())
      return Status(Code::kCancelled, "hashing '" + path + "' was cancelled");
    const ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read '" + path + "' to hash it: " + ErrnoText(errno));
    if (n == 0) break;
    sha.Update(block.data(), static_cast<size_t>(n));
    total += n;
    if (on_block) on_block(total);
  }
  // The bytes read must be the file that is there now, whole and unchanged.
  Stamp now;
  if (!StatPath(path, &now))
    return NotFound("'" + path + "' was removed while it was hashed: no hash recorded");
  if (now.dev != before.dev || now.ino != before.ino || now.size != before.size ||
      now.mtime_ns != before.mtime_ns || total != before.size)
    return IoError("'" + path + "' changed while it was hashed (size " +
                   std::to_string(before.size) + " -> " + std::to_string(now.size) + " bytes, " +
                   std::to_string(total) +
                   " read): no hash recorded; it is hashed again when next loaded");
  if (hashed) *hashed = before;
  return sha.FinalHex();
}

}  // namespace

Result<std::string> Sha256FileStable(const std::string& path, const std::atomic<bool>* cancel,
                                     const std::function<void(int64_t)>& on_block) {
  return HashStable(path, cancel, on_block, nullptr);
}

ModelHashJob::ModelHashJob(std::string model_path, HashSources sources)
    : model_path_(std::move(model_path)),
      sources_(std::move(sources)),
      result_(promise_.get_future().share()) {
  thread_ = std::thread([this] {
    Result<std::string> r = Status(Code::kInternal, "the model hash was not computed");
    Status st = CatchAll([&] { r = Run(); });
    if (!st.ok()) r = st;
    promise_.set_value(std::move(r));
  });
}

ModelHashJob::~ModelHashJob() {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

bool ModelHashJob::WaitFor(int timeout_ms) const {
  return result_.wait_for(std::chrono::milliseconds(timeout_ms)) == std::future_status::ready;
}

std::string ModelHashJob::source() const {
  if (!WaitFor(0) || !result_.get().ok()) return "";
  return source_;  // set before the result: the future orders the two
}

Result<std::string> ModelHashJob::Run() {
  std::string from;
  if (std::string known = KnownSha256(model_path_, sources_, &from); !known.empty()) {
    source_ = from;
    return known;
  }
  const std::string file = HashedFileFor(model_path_);
  Stamp s;
  auto sha = HashStable(file, &cancel_, nullptr, &s);
  if (!sha.ok()) return sha.status();
  StoreInCache(sources_.cache_file, AbsolutePath(file), s, *sha);
  // The library learns the hash too (its sd-models listing shows it), when it has this very
  // file: SetHash only writes a row whose size and mtime are the ones hashed.
  if (file == model_path_ && HasIndex(sources_)) {
    store::DatabaseOptions options;
    options.busy_timeout_ms = 1000;
    auto index = store::SqliteModelIndex::Open(sources_.index_db, options);
    if (index.ok()) {
      auto row = IndexRow(**index, model_path_);
      if (row.ok() && row->sha256.empty())
        (void)(*index)->SetHash({row->path, s.size, s.mtime_ns}, *sha);
    }
  }
  source_ = "hashed";
  return sha;
}

}  // namespace easel::library

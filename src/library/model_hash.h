// Model hashes as A1111 shows them: SHA-256 of the weights file, AutoV2 = its first 10 hex
// digits. Hashing a 2-7 GB checkpoint takes seconds, so a hash is looked up before it is
// computed: in a JSON cache keyed by absolute path, size and modification time (A1111 keeps a
// cache.json the same way), then in the model library's index (easel.db, same stamps). And it
// is computed apart from the image: a ModelHashJob starts when the model is loaded and runs
// on its own thread while the image is sampled; the image's writer asks for the result.
//
// Thread-safety: the free functions share no state (the cache file is rewritten atomically;
// concurrent writers may lose an entry, never corrupt the file). A ModelHashJob may be asked
// from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "util/status.h"

namespace easel::library {

// The file hashed for a model: the file itself, or for a diffusers folder its UNet weights
// (unet/diffusion_pytorch_model.safetensors), the part that defines the model.
std::string HashedFileFor(const std::string& model_path);

// Full SHA-256 hex of `path`, using and updating the cache at `cache_file` (an empty
// cache_file disables caching). A cache that cannot be read or written is ignored (hashing
// still succeeds); the cache is rewritten atomically.
Result<std::string> CachedSha256(const std::string& path, const std::string& cache_file);

// $EASEL_CACHE_DIR/hashes.json, else $XDG_CACHE_HOME/easel/hashes.json, else
// ~/.cache/easel/hashes.json; empty if none can be formed.
std::string DefaultHashCacheFile();

// Where a model's SHA-256 may already be known, checked in this order.
struct HashSources {
  std::string cache_file;  // the hash cache (DefaultHashCacheFile()); "" for none
  std::string index_db;    // the library's database (easel.db); "" or a missing file for none
};

// The default cache, and the library of the data dir (--data-dir `data_dir_flag`, else
// $EASEL_DATA_DIR, else XDG, else ~; util/data_dir.h) when its database exists.
HashSources DefaultHashSources(const std::string& data_dir_flag = "");

// A SHA-256 already known for the model at `model_path`, without hashing anything: the cache
// entry of its hashed file, else the library row of model_path; each only when the size and
// mtime it was stored with are still the file's. "" when neither knows it or the file is gone.
// `source`, when given, is set to "cache" or "index".
std::string KnownSha256(const std::string& model_path, const HashSources& sources,
                        std::string* source = nullptr);

// SHA-256 of `path`, read once in 1 MiB blocks (with SHA-NI where the CPU has it:
// sha256_fast.h). Never the hash of something that is no longer
// there: kNotFound when the file is missing or removed while being read, kIo when it changes
// (size, mtime or inode) while being read, kCancelled as soon as `cancel` becomes true.
// `on_block`, when given, is called after each block with the bytes read so far.
Result<std::string> Sha256FileStable(
    const std::string& path, const std::atomic<bool>* cancel = nullptr,
    const std::function<void(int64_t bytes_read)>& on_block = nullptr);

// A model's SHA-256 obtained on a thread of its own, so that it never delays the first image.
// Started right after the model is loaded; a known hash (KnownSha256) is ready within
// milliseconds, else the hashed file is read (Sha256FileStable) while the image is sampled,
// and the result is stored in the cache and, when the library has an unchanged row for the
// model, in its index. The writer of the image waits (Get) only for what is left.
class ModelHashJob {
 public:
  ModelHashJob(std::string model_path, HashSources sources);
  // Cancels an unfinished hash and joins its thread (within one 1 MiB read).
  ~ModelHashJob();
  ModelHashJob(const ModelHashJob&) = delete;
  ModelHashJob& operator=(const ModelHashJob&) = delete;

  const std::string& model_path() const { return model_path_; }
  // True when the result is ready, waiting at most timeout_ms (0: just look).
  bool WaitFor(int timeout_ms) const;
  // Waits for the result: the full SHA-256 hex, or why there is none (the file is gone or
  // changed while it was hashed, or the job was cancelled).
  const Result<std::string>& Get() const { return result_.get(); }
  // Where the hash came from once ready: "cache", "index" or "hashed"; "" until then or
  // after a failure.
  std::string source() const;

 private:
  Result<std::string> Run();

  const std::string model_path_;
  const HashSources sources_;
  std::atomic<bool> cancel_{false};
  std::string source_;  // written by the thread before it sets the result
  std::promise<Result<std::string>> promise_;
  std::shared_future<Result<std::string>> result_;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace easel::library

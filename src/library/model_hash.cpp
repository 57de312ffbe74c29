#include "library/model_hash.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "util/files.h"
#include "util/sha256.h"

namespace easel::library {
namespace fs = std::filesystem;

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

Result<std::string> CachedSha256(const std::string& path, const std::string& cache_file) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return NotFound("cannot hash " + path + ": " + ErrnoText(errno));
  std::error_code ec;
  const std::string key = fs::absolute(path, ec).string();
  const int64_t size = st.st_size;
  const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;

  nlohmann::json cache = nlohmann::json::object();
  if (!cache_file.empty()) {
    auto text = ReadFile(cache_file, 64u << 20);
    if (text.ok()) {
      try {
        cache = nlohmann::json::parse(*text);
        if (!cache.is_object()) cache = nlohmann::json::object();
      } catch (const std::exception&) {
        cache = nlohmann::json::object();  // a damaged cache is rebuilt, never trusted
      }
    }
    auto it = cache.find(key);
    if (it != cache.end() && it->is_object() && it->value("size", int64_t{-1}) == size &&
        it->value("mtime_ns", int64_t{-1}) == mtime_ns && it->contains("sha256") &&
        (*it)["sha256"].is_string())
      return (*it)["sha256"].get<std::string>();
  }
  auto sha = Sha256File(path);
  if (!sha.ok()) return sha.status();
  if (!cache_file.empty()) {
    cache[key] = {{"size", size}, {"mtime_ns", mtime_ns}, {"sha256", *sha}};
    fs::create_directories(fs::path(cache_file).parent_path(), ec);
    (void)WriteFileAtomic(cache_file, cache.dump(1));  // best effort: hashing still succeeded
  }
  return *sha;
}

}  // namespace easel::library

// Model hashes as A1111 shows them: SHA-256 of the weights file, AutoV2 = its first 10 hex
// digits. Hashing a 2-7 GB checkpoint takes seconds, so results are cached in a JSON file
// keyed by absolute path, size and modification time (A1111 keeps a cache.json the same way).
#pragma once

#include <string>

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

}  // namespace easel::library

// ModelCatalog: the models (and LoRAs) a server offers, found under --models-dir, and the one
// place a model *name* from a client becomes a *path* for a worker.
//
// Listing: every *.safetensors file and every diffusers folder (one holding model_index.json)
// under the models folder, up to 6 levels deep, following symlinks, skipping folders of other
// kinds (Lora, VAE, embeddings, controlnet ...). A model's name is its path
// relative to the folder, '/'-separated, without ".safetensors" ("sd15/dreamshaper_8"); its
// title is the relative path with the extension (A1111's "title", also accepted by Resolve,
// with or without a trailing " [hash]"). Families come from library::DetectPath (headers only),
// cached by path, size and modification time. LoRAs: *.safetensors under the LoRA folder.
//
// Names are untrusted: Resolve refuses anything but a listed model (so "../../etc/passwd",
// absolute paths, backslashes or control characters are kInvalidArgument, unknown names
// kNotFound naming a few that exist). Thread-safe: a mutex guards the listing.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace easel::server {

struct ModelEntry {
  std::string name;    // "sd15/dreamshaper_8"
  std::string title;   // "sd15/dreamshaper_8.safetensors"; diffusers folders: as name
  std::string path;    // absolute
  std::string format;  // "checkpoint" | "diffusers"
  std::string family;  // "SD1", "SD2", "SDXL", ... "unknown"
  std::string prediction;
  bool supported = false;  // Easel can generate with it
  uint64_t size = 0;       // bytes
  int64_t mtime = 0;       // seconds since the epoch
  nlohmann::json ToJson() const;
};

struct LoraEntry {
  std::string name;  // relative path without ".safetensors"
  std::string path;
  uint64_t size = 0;
};

class ModelCatalog {
 public:
  // Either folder may be "" (then nothing is listed from it).
  ModelCatalog(std::string models_dir, std::string loras_dir);

  // Lists the folders again (the first call of Models/Resolve does it too).
  void Refresh();
  std::vector<ModelEntry> Models();
  std::vector<LoraEntry> Loras();
  // A listed model by name or title (see above); refreshes once on a miss.
  Result<ModelEntry> Resolve(const std::string& name);
  // The listed model whose file (or diffusers folder) is `path` (absolute; symlinks resolved
  // on both sides), if any: how a library path gets its catalog name.
  std::optional<ModelEntry> FindByPath(const std::string& path);
  // True when `name` is a well-formed LoRA name (no traversal); existence is the worker's.
  static Status CheckLoraName(const std::string& name);

  const std::string& models_dir() const { return models_dir_; }
  const std::string& loras_dir() const { return loras_dir_; }

 private:
  void RefreshLocked();
  Result<ModelEntry> FindLocked(const std::string& name) const;

  std::string models_dir_, loras_dir_;
  std::mutex mu_;
  bool listed_ = false;                             // guarded by mu_
  std::vector<ModelEntry> models_;                  // guarded by mu_
  std::vector<LoraEntry> loras_;                    // guarded by mu_
  std::map<std::string, ModelEntry> detect_cache_;  // path -> entry; guarded by mu_
};

// A file's modification time as seconds since the Unix epoch (0 when unreadable).
// std::filesystem's clock has its own epoch (libstdc++: 2174), so this converts.
int64_t UnixMtime(const std::string& path);

// A name or id from a URL or body that may be joined to a folder: 1..512 bytes, relative,
// no "." / ".." / empty components, no backslashes or control characters.
bool IsSafeName(const std::string& name);

}  // namespace easel::server

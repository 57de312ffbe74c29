// The library scanner: walks model folders, classifies each weight file (classify.h), reads
// its metadata and sidecars (sidecars.h) and writes the records to the index, touching only
// what changed since the last scan.
//
// Incremental: the index's stamps (size, mtime, sidecar signature) are loaded once per root;
// a file whose stamp is unchanged costs one stat() and nothing else; files gone from disk
// are removed from the index. A file that cannot be read (truncated, not safetensors, no
// permission) is indexed with its error and the scan goes on. Pickled files (.ckpt .pt .pth
// .bin) are never opened: they are classified by folder only. Hashing is not done here (see
// hasher.h): records are written without a hash and hashed later, in the background.
//
// Thread-safety: ScanFolders may run on any thread; it uses only the index it is given.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "library/model_roots.h"
#include "store/model_index.h"
#include "util/status.h"

namespace easel::library {

struct ScanOptions {
  // Folders deeper than this below a root are not entered (symlink loops, huge trees).
  int max_depth = 12;
  // Records written per transaction.
  size_t batch = 500;
  // Set to true from another thread to stop at the next file.
  const std::atomic<bool>* cancel = nullptr;
  // Called after each new or changed file is read (for a progress line); may be empty.
  std::function<void(const std::string& path, int64_t done)> on_file;
};

struct ScanReport {
  int64_t files = 0;      // weight files seen
  int64_t unchanged = 0;  // skipped: same size, mtime and sidecars
  int64_t added = 0;
  int64_t updated = 0;
  int64_t removed = 0;
  int64_t errors = 0;                      // files indexed with an error
  std::vector<std::string> missing_roots;  // roots that are not folders (skipped)
  double seconds = 0;
  nlohmann::json ToJson() const;
};

// Scans each root (a folder; recursively) into `index`. Fails only when the index itself
// fails (the database); unreadable files and missing roots are reported, not fatal. A
// root's kind classifies the files its folder names and tensors leave unknown.
Result<ScanReport> ScanFolders(const std::vector<ModelRoot>& roots, store::SqliteModelIndex& index,
                               const ScanOptions& options = {});
// The same for plain folders (kind unknown).
Result<ScanReport> ScanFolders(const std::vector<std::string>& roots,
                               store::SqliteModelIndex& index, const ScanOptions& options = {});

// Reads one file (or diffusers folder) into a record (classification, metadata, sidecars),
// as the scanner does. `root` is the scanned folder it belongs to. Never fails: problems go
// into record.error.
ModelRecord ReadModelFile(const std::string& path, const std::string& root,
                          ModelKind root_kind = ModelKind::kUnknown);

}  // namespace easel::library

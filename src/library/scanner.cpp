// The incremental library scanner. See scanner.h.
#include "library/scanner.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <set>

#include "io/safetensors.h"
#include "library/classify.h"
#include "library/sidecars.h"

namespace easel::library {
namespace {

namespace fs = std::filesystem;

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string StemOf(const std::string& file_name) {
  const size_t dot = file_name.rfind('.');
  return dot == std::string::npos || dot == 0 ? file_name : file_name.substr(0, dot);
}

std::string NormalRoot(const std::string& root) {
  std::error_code ec;
  fs::path p = fs::absolute(root, ec).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// One folder's entries: files with their stat, subfolders.
struct Entry {
  std::string name;
  int64_t size = 0;
  int64_t mtime_ns = 0;
};
struct Folder {
  std::vector<Entry> files;
  std::vector<std::string> dirs;
  DirListing listing;  // every file's name -> mtime
};

Folder ListFolder(const std::string& dir) {
  Folder out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;  // ., .., hidden (.git, .cache ...)
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, 0) != 0) continue;  // dangling link
    if (S_ISDIR(st.st_mode)) {
      if (name != "__pycache__" && name != "node_modules") out.dirs.push_back(name);
    } else if (S_ISREG(st.st_mode)) {
      out.files.push_back(Entry{name, static_cast<int64_t>(st.st_size), MtimeNs(st)});
      out.listing[name] = MtimeNs(st);
    }
  }
  ::closedir(d);
  return out;
}

ModelRecord ReadWithListing(const std::string& path, const std::string& root, ModelKind root_kind,
                            int64_t size, int64_t mtime_ns, const DirListing& listing) {
  ModelRecord r;
  const fs::path p(path);
  const std::string file_name = p.filename().string();
  r.path = path;
  r.root = root;
  r.name = StemOf(file_name);
  r.size = size;
  r.mtime_ns = mtime_ns;
  r.scanned_ms = NowMs();
  r.sidecar_sig = SidecarSignature(file_name, listing);
  FolderHint hint = FolderHintFor(path, root);
  if (hint.kind == ModelKind::kUnknown && root_kind != ModelKind::kUnknown) {
    hint.kind = root_kind;
    hint.folder = fs::path(root).filename().string();
  }
  const std::string lower = Lower(file_name);
  const bool pickle = EndsWith(lower, ".ckpt") || EndsWith(lower, ".pt") ||
                      EndsWith(lower, ".pth") || EndsWith(lower, ".bin");
  if (pickle || EndsWith(lower, ".gguf")) {
    r.kind = hint.kind;
    r.family = hint.family;
    r.subtype = pickle ? "pickle" : "gguf";
    r.evidence.push_back(pickle ? "pickled PyTorch file: not opened (loading it can run code); "
                                  "classified by its folder"
                                : "GGUF file: classified by its folder");
    if (hint.kind != ModelKind::kUnknown)
      r.evidence.push_back(std::string("folder '") + hint.folder + "': " + KindName(hint.kind));
  } else {
    auto header = io::SafetensorsFile::OpenHeaderOnly(path);
    if (!header.ok()) {
      r.kind = hint.kind;
      r.error = header.status().ToString();
      r.evidence.push_back("unreadable; kind from the folder only");
    } else {
      Classification c = ClassifyTensors(*header, hint);
      r.kind = c.kind;
      r.family = c.family;
      r.subtype = c.subtype;
      r.latent_channels = c.latent_channels;
      r.evidence = std::move(c.evidence);
      ApplySafetensorsMetadata((*header)->metadata(), &r);
    }
  }
  ApplySidecars(p.parent_path().string(), file_name, listing, &r);
  if (r.family == Family::kUnknown && r.kind != ModelKind::kVae &&
      r.kind != ModelKind::kTextEncoder && r.kind != ModelKind::kUpscaler) {
    if (Family f = FamilyFromLabel(r.base_model); f != Family::kUnknown) {
      r.family = f;
      r.evidence.push_back("family from the base model in its metadata ('" + r.base_model +
                           "'): " + FamilyName(f));
    }
  }
  return r;
}

ModelRecord ReadDiffusersFolder(const std::string& dir, const std::string& root, int64_t mtime_ns) {
  ModelRecord r;
  r.path = dir;
  r.root = root;
  r.name = fs::path(dir).filename().string();
  r.mtime_ns = mtime_ns;
  r.scanned_ms = NowMs();
  r.kind = ModelKind::kCheckpoint;
  r.subtype = "diffusers";
  Result<Detection> d = DetectDiffusersFolder(dir);
  if (!d.ok()) {
    r.error = d.status().ToString();
    return r;
  }
  r.family = d->family;
  r.size = static_cast<int64_t>(d->file_size);
  r.evidence = d->evidence;
  return r;
}

class Walker {
 public:
  Walker(std::string root, ModelKind root_kind,
         const std::map<std::string, store::FileStamp>& stamps, store::SqliteModelIndex& index,
         const ScanOptions& options, ScanReport* report)
      : root_(std::move(root)),
        root_kind_(root_kind),
        stamps_(stamps),
        index_(index),
        options_(options),
        report_(report) {}

  Status Run() {
    Walk(root_, 0);
    return Flush();
  }
  const std::set<std::string>& seen() const { return seen_; }

 private:
  bool Cancelled() const { return options_.cancel && options_.cancel->load(); }

  void Walk(const std::string& dir, int depth) {
    if (depth > options_.max_depth || Cancelled() || !status_.ok()) return;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;
    if (!visited_.insert({st.st_dev, st.st_ino}).second) return;  // symlink loop
    Folder folder = ListFolder(dir);
    if (folder.listing.count("model_index.json")) {  // a diffusers pipeline: one model
      Consider(dir, 0, folder.listing["model_index.json"],
               [&] { return ReadDiffusersFolder(dir, root_, folder.listing["model_index.json"]); });
      return;
    }
    std::sort(folder.files.begin(), folder.files.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    for (const Entry& f : folder.files) {
      if (Cancelled() || !status_.ok()) return;
      if (!IsModelFileName(f.name)) continue;
      const std::string path = dir + "/" + f.name;
      const std::string sig = SidecarSignature(f.name, folder.listing);
      Consider(
          path, f.size, f.mtime_ns,
          [&] {
            return ReadWithListing(path, root_, root_kind_, f.size, f.mtime_ns, folder.listing);
          },
          &sig);
    }
    std::sort(folder.dirs.begin(), folder.dirs.end());
    for (const std::string& sub : folder.dirs) Walk(dir + "/" + sub, depth + 1);
  }

  template <class ReadFn>
  void Consider(const std::string& path, int64_t size, int64_t mtime_ns, ReadFn read,
                const std::string* sig = nullptr) {
    seen_.insert(path);
    ++report_->files;
    auto it = stamps_.find(path);
    const bool known = it != stamps_.end();
    if (known && (size == 0 || it->second.size == size) && it->second.mtime_ns == mtime_ns &&
        (!sig || it->second.sidecar_sig == *sig)) {
      ++report_->unchanged;
      return;
    }
    ModelRecord r = read();
    if (!r.error.empty()) ++report_->errors;
    ++(known ? report_->updated : report_->added);
    batch_.push_back(std::move(r));
    if (options_.on_file) options_.on_file(path, report_->added + report_->updated);
    if (batch_.size() >= options_.batch) status_ = Flush();
  }

  Status Flush() {
    if (!status_.ok()) return status_;
    if (batch_.empty()) return Status::Ok();
    Status st = index_.Upsert(batch_);
    batch_.clear();
    return st;
  }

  std::string root_;
  ModelKind root_kind_;
  const std::map<std::string, store::FileStamp>& stamps_;
  store::SqliteModelIndex& index_;
  const ScanOptions& options_;
  ScanReport* report_;
  std::vector<ModelRecord> batch_;
  std::set<std::string> seen_;
  std::set<std::pair<dev_t, ino_t>> visited_;
  Status status_;
};

}  // namespace

nlohmann::json ScanReport::ToJson() const {
  return {{"files", files},
          {"unchanged", unchanged},
          {"added", added},
          {"updated", updated},
          {"removed", removed},
          {"errors", errors},
          {"missing_roots", missing_roots},
          {"seconds", seconds}};
}

ModelRecord ReadModelFile(const std::string& path_in, const std::string& root,
                          ModelKind root_kind) {
  const std::string path = NormalRoot(path_in);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ModelRecord r;
    r.path = path;
    r.root = root;
    r.name = StemOf(fs::path(path).filename().string());
    r.error = "cannot read " + path + ": " + std::strerror(errno);
    return r;
  }
  if (S_ISDIR(st.st_mode)) return ReadDiffusersFolder(path, root, MtimeNs(st));
  Folder folder = ListFolder(fs::path(path).parent_path().string());
  return ReadWithListing(path, NormalRoot(root), root_kind, st.st_size, MtimeNs(st),
                         folder.listing);
}

Result<ScanReport> ScanFolders(const std::vector<std::string>& roots,
                               store::SqliteModelIndex& index, const ScanOptions& options) {
  std::vector<ModelRoot> typed;
  for (const std::string& r : roots) typed.push_back(ModelRoot{r, ModelKind::kUnknown, "user"});
  return ScanFolders(typed, index, options);
}

Result<ScanReport> ScanFolders(const std::vector<ModelRoot>& roots_in,
                               store::SqliteModelIndex& index, const ScanOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  ScanReport report;
  for (const ModelRoot& root_in : roots_in) {
    const std::string root = NormalRoot(root_in.path);
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      report.missing_roots.push_back(root);
      continue;  // an unmounted drive: keep its rows
    }
    auto stamps = index.Stamps(root);
    if (!stamps.ok()) return stamps.status();
    Walker walker(root, root_in.kind, *stamps, index, options, &report);
    EASEL_RETURN_IF_ERROR(walker.Run());
    if (options.cancel && options.cancel->load()) break;
    std::vector<std::string> gone;
    for (const auto& [path, stamp] : *stamps)
      if (!walker.seen().count(path)) gone.push_back(path);
    EASEL_RETURN_IF_ERROR(index.Remove(gone));
    report.removed += static_cast<int64_t>(gone.size());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace easel::library

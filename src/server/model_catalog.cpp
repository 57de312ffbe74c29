// ModelCatalog: listing the models folder, detecting families, resolving names (see
// model_catalog.h).
#include "server/model_catalog.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>

#include "library/detect.h"
#include "store/history.h"

namespace easel::server {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 6;
constexpr size_t kMaxEntries = 10000;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string StripExtension(const std::string& rel) {
  return EndsWith(rel, ".safetensors") ? rel.substr(0, rel.size() - 12) : rel;
}

int64_t MtimeOf(const fs::path& p) {
  return UnixMtime(p.string());
}

// Folders of other model kinds (A1111 and ComfyUI layouts): not checkpoints.
bool SkippedFolder(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* skip :
       {"lora", "loras", "lycoris", "vae", "embeddings", "text_encoders", "clip", "clip_vision",
        "controlnet", "upscale_models", "esrgan", "hypernetworks"})
    if (lower == skip) return true;
  return false;
}

// Calls visit(path, rel, is_dir) for each candidate; returns without descending into
// diffusers folders.
template <class Visit>
void Walk(const fs::path& dir, const std::string& rel, int depth, size_t* count, Visit&& visit) {
  std::error_code ec;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return;
  std::vector<fs::directory_entry> entries;
  for (; it != fs::directory_iterator() && !ec; it.increment(ec)) entries.push_back(*it);
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  for (const auto& e : entries) {
    if (*count >= kMaxEntries) return;
    const std::string fname = e.path().filename().string();
    if (fname.empty() || fname[0] == '.') continue;
    const std::string child_rel = rel.empty() ? fname : rel + "/" + fname;
    std::error_code sec;
    if (fs::is_directory(e.path(), sec)) {
      if (fs::exists(e.path() / "model_index.json", sec)) {
        ++*count;
        visit(e.path(), child_rel, true);
      } else if (depth < kMaxDepth && !SkippedFolder(fname)) {
        Walk(e.path(), child_rel, depth + 1, count, visit);
      }
    } else if (EndsWith(fname, ".safetensors") && fs::is_regular_file(e.path(), sec)) {
      ++*count;
      visit(e.path(), child_rel, false);
    }
  }
}

}  // namespace

int64_t UnixMtime(const std::string& path) {
  std::error_code ec;
  const fs::file_time_type t = fs::last_write_time(path, ec);
  if (ec) return 0;
  // C++17 has no clock_cast: carry the distance from "now" over to the system clock.
  const auto file_now = fs::file_time_type::clock::now();
  const auto sys_now = std::chrono::system_clock::now();
  const auto sys =
      sys_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - file_now);
  return std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count();
}

bool IsSafeName(const std::string& name) {
  if (name.size() > 512) return false;
  return store::IsSafeRelativePath(name);
}

nlohmann::json ModelEntry::ToJson() const {
  return {{"name", name},     {"title", title},           {"format", format},
          {"family", family}, {"prediction", prediction}, {"supported", supported},
          {"size", size},     {"modified", mtime}};
}

ModelCatalog::ModelCatalog(std::string models_dir, std::string loras_dir)
    : models_dir_(std::move(models_dir)), loras_dir_(std::move(loras_dir)) {}

void ModelCatalog::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshLocked();
}

void ModelCatalog::RefreshLocked() {
  std::vector<ModelEntry> models;
  size_t count = 0;
  if (!models_dir_.empty()) {
    Walk(fs::path(models_dir_), "", 0, &count,
         [&](const fs::path& p, const std::string& rel, bool dir) {
           ModelEntry e;
           e.title = rel;
           e.name = dir ? rel : StripExtension(rel);
           std::error_code ec;
           e.path = fs::absolute(p, ec).string();
           e.format = dir ? "diffusers" : "checkpoint";
           e.mtime = MtimeOf(dir ? p / "model_index.json" : p);
           e.size = dir ? 0 : fs::file_size(p, ec);
           auto cached = detect_cache_.find(e.path);
           if (cached != detect_cache_.end() && cached->second.mtime == e.mtime &&
               cached->second.size == e.size) {
             e.family = cached->second.family;
             e.prediction = cached->second.prediction;
             e.supported = cached->second.supported;
             if (dir) e.size = cached->second.size;
           } else {
             e.family = "unknown";
             auto d = library::DetectPath(e.path, /*read_data=*/false);
             if (d.ok()) {
               e.family = library::FamilyName(d->family);
               e.prediction = library::PredictionName(d->prediction);
               e.supported = d->Supported();
               if (dir) e.size = d->file_size;
             }
             detect_cache_[e.path] = e;
           }
           models.push_back(std::move(e));
         });
  }
  std::vector<LoraEntry> loras;
  count = 0;
  if (!loras_dir_.empty()) {
    Walk(fs::path(loras_dir_), "", 0, &count,
         [&](const fs::path& p, const std::string& rel, bool dir) {
           if (dir) return;
           std::error_code ec;
           loras.push_back(
               {StripExtension(rel), fs::absolute(p, ec).string(), fs::file_size(p, ec)});
         });
  }
  models_ = std::move(models);
  loras_ = std::move(loras);
  listed_ = true;
}

std::vector<ModelEntry> ModelCatalog::Models() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!listed_) RefreshLocked();
  return models_;
}

std::vector<LoraEntry> ModelCatalog::Loras() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!listed_) RefreshLocked();
  return loras_;
}

Result<ModelEntry> ModelCatalog::FindLocked(const std::string& raw) const {
  std::string name = raw;
  // A1111 titles carry the short hash: "name.safetensors [6ce0161689]".
  if (name.size() > 3 && name.back() == ']') {
    const size_t open = name.rfind(" [");
    if (open != std::string::npos) name = name.substr(0, open);
  }
  for (const ModelEntry& e : models_)
    if (e.name == name || e.title == name) return e;
  std::string known;
  for (size_t i = 0; i < models_.size() && i < 5; ++i)
    known += (known.empty() ? "" : ", ") + models_[i].name;
  return NotFound("no model named '" + raw + "' in the models folder" +
                  (known.empty() ? std::string(" (it is empty)") : "; models include " + known) +
                  ": GET /api/v1/models lists them all");
}

Result<ModelEntry> ModelCatalog::Resolve(const std::string& name) {
  if (name.empty())
    return InvalidArgument("the model name is empty: GET /api/v1/models lists the models");
  std::string bare = name;
  if (bare.size() > 3 && bare.back() == ']') {
    const size_t open = bare.rfind(" [");
    if (open != std::string::npos) bare = bare.substr(0, open);
  }
  if (!IsSafeName(bare))
    return InvalidArgument("'" + name.substr(0, 200) +
                           "' is not a model name: names are paths relative to the models folder, "
                           "without '..', a leading '/' or backslashes (GET /api/v1/models lists "
                           "them)");
  std::lock_guard<std::mutex> lock(mu_);
  if (!listed_) RefreshLocked();
  auto found = FindLocked(name);
  if (found.ok()) return found;
  RefreshLocked();  // a model added since the last listing
  return FindLocked(name);
}

std::optional<ModelEntry> ModelCatalog::FindByPath(const std::string& path) {
  std::error_code ec;
  const fs::path want = fs::weakly_canonical(path, ec);
  std::lock_guard<std::mutex> lock(mu_);
  if (!listed_) RefreshLocked();
  for (const ModelEntry& e : models_) {
    if (e.path == path) return e;
    std::error_code ec2;
    if (!ec && fs::weakly_canonical(e.path, ec2) == want && !ec2) return e;
  }
  return std::nullopt;
}

Status ModelCatalog::CheckLoraName(const std::string& name) {
  if (!IsSafeName(name))
    return InvalidArgument("'" + name.substr(0, 200) +
                           "' is not a LoRA name: names are paths relative to the LoRA folder, "
                           "without '..', a leading '/' or backslashes");
  return Status::Ok();
}

}  // namespace easel::server

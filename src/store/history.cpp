// Record checks shared by History implementations (see history.h).
#include "store/history.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "store/ids.h"

namespace easel::store {
namespace {

constexpr size_t kMaxTags = 32;
constexpr size_t kMaxTagBytes = 64;
constexpr size_t kMaxPathBytes = 1024;

// "" becomes `empty`; otherwise `text` must parse as JSON of the wanted type.
Status CheckJson(std::string& text, const char* field, bool want_array) {
  if (text.empty()) {
    text = want_array ? "[]" : "{}";
    return Status::Ok();
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  bool ok = want_array ? j.is_array() : j.is_object();
  if (!ok) {
    return InvalidArgument(std::string(field) + " must be a JSON " +
                           (want_array ? "array, as in [{\"name\": \"x\", \"weight\": 0.8}]"
                                       : "object, as in {\"key\": 1}"));
  }
  return Status::Ok();
}

}  // namespace

bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.size() > kMaxPathBytes || path.front() == '/') return false;
  for (char c : path) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

Result<std::vector<std::string>> NormalizeTags(const std::vector<std::string>& tags) {
  std::vector<std::string> out;
  for (const std::string& raw : tags) {
    size_t b = raw.find_first_not_of(' ');
    size_t e = raw.find_last_not_of(' ');
    std::string tag = b == std::string::npos ? "" : raw.substr(b, e - b + 1);
    for (char& c : tag) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    bool control = std::any_of(tag.begin(), tag.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (tag.empty() || tag.size() > kMaxTagBytes || control) {
      return InvalidArgument("tag '" + raw.substr(0, 80) + "' is not a tag: use 1.." +
                             std::to_string(kMaxTagBytes) +
                             " bytes of text without control characters");
    }
    out.push_back(std::move(tag));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > kMaxTags) {
    return InvalidArgument("an image has " + std::to_string(out.size()) + " tags; the most is " +
                           std::to_string(kMaxTags));
  }
  return out;
}

Status NormalizeImageRecord(ImageRecord& r) {
  if (r.id.empty()) r.id = NewId("i_");
  if (!IsValidId(r.id))
    return InvalidArgument("image id '" + r.id.substr(0, 80) +
                           "' must be 1..64 of A-Z a-z 0-9 _ -");
  if (!r.job_id.empty() && !IsValidId(r.job_id))
    return InvalidArgument("job id '" + r.job_id.substr(0, 80) +
                           "' must be 1..64 of A-Z a-z 0-9 _ -");
  if (!IsSafeRelativePath(r.path)) {
    return InvalidArgument("image path '" + r.path.substr(0, 200) +
                           "' must be relative to the data dir and stay inside it (no leading "
                           "'/', no '..', '.' or empty parts, no backslashes)");
  }
  if (r.width < 1 || r.width > 65536 || r.height < 1 || r.height > 65536) {
    return InvalidArgument("image size " + std::to_string(r.width) + "x" +
                           std::to_string(r.height) + " must be 1..65536 on each side");
  }
  if (r.seed < 0) return InvalidArgument("seed " + std::to_string(r.seed) + " must be 0 or more");
  if (r.steps < 0 || r.steps > 10000)
    return InvalidArgument("steps " + std::to_string(r.steps) + " must be 0..10000");
  if (!std::isfinite(r.cfg)) return InvalidArgument("cfg must be a finite number");
  EASEL_RETURN_IF_ERROR(CheckJson(r.loras, "loras", /*want_array=*/true));
  EASEL_RETURN_IF_ERROR(CheckJson(r.params_json, "params_json", /*want_array=*/false));
  EASEL_RETURN_IF_ERROR(CheckJson(r.timings_json, "timings_json", /*want_array=*/false));
  Result<std::vector<std::string>> tags = NormalizeTags(r.tags);
  if (!tags.ok()) return tags.status();
  r.tags = std::move(*tags);
  if (r.created_ms == 0) r.created_ms = NowMs();
  return Status::Ok();
}

}  // namespace easel::store

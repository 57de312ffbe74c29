// Sidecar and embedded-metadata readers. See sidecars.h.
#include "library/sidecars.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>

#include "util/files.h"

namespace easel::library {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxMetadataValue = 1000;
constexpr size_t kMaxTags = 30;
constexpr uint64_t kMaxSidecarBytes = 16u << 20;

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Stem(const std::string& file_name) {
  const size_t dot = file_name.rfind('.');
  return dot == std::string::npos ? file_name : file_name.substr(0, dot);
}

// Splits "a, b,c" into trimmed non-empty parts.
std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string part = Trim(s.substr(start, end - start));
    if (!part.empty()) out.push_back(part);
    start = end + 1;
  }
  return out;
}

void AddUnique(const std::string& value, std::vector<std::string>* to) {
  const std::string v = Trim(value);
  if (!v.empty() && std::find(to->begin(), to->end(), v) == to->end()) to->push_back(v);
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> StrList(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end()) return out;
  if (it->is_string()) return SplitComma(it->get<std::string>());
  if (!it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

Result<json> ParseObject(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("not a JSON object");
  return j;
}

// CivitAI model-version fields (shared by .civitai.info and Lora-Manager's "civitai").
void ApplyCivitaiVersion(const json& v, ModelRecord* r) {
  if (!v.is_object()) return;
  if (std::string base = Str(v, "baseModel"); !base.empty()) r->base_model = base;
  for (const std::string& w : StrList(v, "trainedWords"))
    for (const std::string& part : SplitComma(w)) AddUnique(part, &r->trigger_words);
  if (auto m = v.find("model"); m != v.end() && m->is_object()) {
    if (std::string name = Str(*m, "name"); !name.empty() && r->title.empty()) r->title = name;
    AddTags(StrList(*m, "tags"), &r->tags);
  }
  AddTags(StrList(v, "tags"), &r->tags);
  if (std::string d = Str(v, "description"); !d.empty() && r->description.empty())
    r->description = d.substr(0, 2000);
  if (auto s = v.find("stats"); s != v.end() && s->is_object()) {
    if (auto d = s->find("downloadCount"); d != s->end() && d->is_number_integer())
      r->downloads = d->get<int64_t>();
    if (auto d = s->find("rating"); d != s->end() && d->is_number()) r->rating = d->get<double>();
  }
  // Preferred parameters: the first example image that carries generation metadata.
  if (auto imgs = v.find("images"); imgs != v.end() && imgs->is_array()) {
    for (const auto& img : *imgs) {
      auto meta = img.find("meta");
      if (meta == img.end() || !meta->is_object()) continue;
      json p = json::object();
      if (auto x = meta->find("steps"); x != meta->end() && x->is_number()) p["steps"] = *x;
      if (auto x = meta->find("cfgScale"); x != meta->end() && x->is_number()) p["cfg"] = *x;
      if (auto x = meta->find("sampler"); x != meta->end() && x->is_string()) p["sampler"] = *x;
      for (const char* k : {"Clip skip", "clipSkip"})
        if (auto x = meta->find(k); x != meta->end()) {
          if (x->is_number()) p["clip_skip"] = *x;
          if (x->is_string()) p["clip_skip"] = std::atoi(x->get<std::string>().c_str());
        }
      if (std::string size = Str(*meta, "Size"); !size.empty()) {
        const size_t xpos = size.find('x');
        if (xpos != std::string::npos) {
          p["width"] = std::atoi(size.substr(0, xpos).c_str());
          p["height"] = std::atoi(size.substr(xpos + 1).c_str());
        }
      }
      if (!p.empty()) {
        for (auto& [k, val] : p.items()) r->params[k] = val;
        break;
      }
    }
  }
}

}  // namespace

void AddTags(const std::vector<std::string>& tags, std::vector<std::string>* to) {
  for (const std::string& t : tags) {
    if (to->size() >= kMaxTags * 2) break;
    AddUnique(Lower(t), to);
  }
}

std::string SidecarSignature(const std::string& model_file_name, const DirListing& listing) {
  const std::string stem = Stem(model_file_name);
  std::string sig;
  // Every sibling named <stem>.<something> other than the weights themselves.
  for (auto it = listing.lower_bound(stem + "."); it != listing.end(); ++it) {
    if (it->first.compare(0, stem.size() + 1, stem + ".") != 0) break;
    if (it->first == model_file_name) continue;
    sig += it->first + "@" + std::to_string(it->second) + ";";
  }
  return sig;
}

bool ApplyLoraManagerJson(const std::string& text, ModelRecord* r) {
  Result<json> j = ParseObject(text);
  if (!j.ok()) return false;
  if (std::string n = Str(*j, "model_name"); !n.empty()) r->title = n;
  if (std::string b = Str(*j, "base_model"); !b.empty()) r->base_model = b;
  AddTags(StrList(*j, "tags"), &r->tags);
  if (std::string d = Str(*j, "modelDescription"); !d.empty()) r->description = d.substr(0, 2000);
  if (std::string sha = Lower(Str(*j, "sha256")); sha.size() == 64)
    r->metadata["sidecar_sha256"] = sha;
  if (auto c = j->find("civitai"); c != j->end()) ApplyCivitaiVersion(*c, r);
  // usage_tips is a JSON string: {"strength": 0.8, "clip_skip": 2}.
  if (std::string tips = Str(*j, "usage_tips"); !tips.empty()) {
    json t = json::parse(tips, nullptr, false);
    if (t.is_object()) {
      if (auto s = t.find("strength"); s != t.end() && s->is_number())
        r->preferred_weight = s->get<double>();
      if (auto s = t.find("clip_skip"); s != t.end() && s->is_number()) r->params["clip_skip"] = *s;
    }
  }
  return true;
}

bool ApplyCivitaiInfo(const std::string& text, ModelRecord* r) {
  Result<json> j = ParseObject(text);
  if (!j.ok()) return false;
  ApplyCivitaiVersion(*j, r);
  return true;
}

bool ApplyA1111Json(const std::string& text, ModelRecord* r) {
  Result<json> j = ParseObject(text);
  if (!j.ok()) return false;
  if (std::string d = Str(*j, "description"); !d.empty()) r->description = d.substr(0, 2000);
  if (std::string v = Str(*j, "sd version");
      !v.empty() && Lower(v) != "unknown" && r->base_model.empty())
    r->base_model = v;
  for (const std::string& w : SplitComma(Str(*j, "activation text")))
    AddUnique(w, &r->trigger_words);
  if (auto w = j->find("preferred weight"); w != j->end()) {
    if (w->is_number() && w->get<double>() != 0) r->preferred_weight = w->get<double>();
    if (w->is_string() && std::atof(w->get<std::string>().c_str()) != 0)
      r->preferred_weight = std::atof(w->get<std::string>().c_str());
  }
  if (std::string neg = Str(*j, "negative text"); !neg.empty()) r->params["negative_prompt"] = neg;
  if (std::string notes = Str(*j, "notes"); !notes.empty())
    r->metadata["notes"] = notes.substr(0, 2000);
  return true;
}

void ApplySafetensorsMetadata(const std::map<std::string, std::string>& md, ModelRecord* r) {
  for (const auto& [k, v] : md) {
    if (v.size() > kMaxMetadataValue)
      r->metadata[k] =
          v.substr(0, kMaxMetadataValue) + "... (" + std::to_string(v.size()) + " characters)";
    else
      r->metadata[k] = v;
  }
  // ss_tag_frequency: {"<dataset folder>": {"tag": count, ...}, ...}; tags summed over folders.
  if (auto it = md.find("ss_tag_frequency"); it != md.end()) {
    json j = json::parse(it->second, nullptr, false);
    std::map<std::string, int64_t> counts;
    if (j.is_object())
      for (const auto& [dataset, tags] : j.items()) {
        if (!tags.is_object()) continue;
        for (const auto& [tag, n] : tags.items()) {
          const std::string t = Lower(Trim(tag));
          if (!t.empty() && n.is_number_integer()) counts[t] += n.get<int64_t>();
        }
      }
    std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::string> top;
    for (size_t i = 0; i < sorted.size() && i < kMaxTags; ++i) top.push_back(sorted[i].first);
    AddTags(top, &r->tags);
  }
  if (auto it = md.find("modelspec.tags"); it != md.end())
    AddTags(SplitComma(it->second), &r->tags);
  if (auto it = md.find("modelspec.trigger_phrase"); it != md.end())
    for (const std::string& w : SplitComma(it->second)) AddUnique(w, &r->trigger_words);
  for (const char* k : {"modelspec.title", "ss_output_name"})
    if (auto it = md.find(k); it != md.end() && r->title.empty()) r->title = Trim(it->second);
  for (const char* k : {"ss_base_model_version", "modelspec.architecture"})
    if (auto it = md.find(k); it != md.end() && r->base_model.empty()) r->base_model = it->second;
  if (auto it = md.find("modelspec.description"); it != md.end() && r->description.empty())
    r->description = it->second.substr(0, 2000);
}

void ApplySidecars(const std::string& dir, const std::string& file_name, const DirListing& listing,
                   ModelRecord* r) {
  const std::string stem = Stem(file_name);
  auto read = [&](const std::string& name, bool (*apply)(const std::string&, ModelRecord*),
                  const char* source) {
    if (!listing.count(name)) return;
    Result<std::string> text = ReadFile((fs::path(dir) / name).string(), kMaxSidecarBytes);
    if (text.ok() && apply(*text, r)) {
      r->sources.push_back(source);
    } else {
      r->evidence.push_back(
          "sidecar " + name +
          " skipped: " + (text.ok() ? std::string("not a JSON object") : text.status().message()));
    }
  };
  // Least to most specific: later readers override earlier ones.
  read(stem + ".json", &ApplyA1111Json, "a1111.json");
  read(stem + ".civitai.info", &ApplyCivitaiInfo, "civitai.info");
  read(stem + ".metadata.json", &ApplyLoraManagerJson, "metadata.json");
  for (const char* suffix : {".preview.png", ".preview.jpg", ".preview.jpeg", ".preview.webp",
                             ".png", ".jpg", ".jpeg", ".webp", ".gif"}) {
    if (listing.count(stem + suffix)) {
      r->preview = (fs::path(dir) / (stem + suffix)).string();
      break;
    }
  }
}

}  // namespace easel::library

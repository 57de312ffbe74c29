// JSON handlers of the library API. See library_api.h.
#include "library/library_api.h"

#include <cctype>
#include <filesystem>
#include <optional>

#include "library/hasher.h"
#include "library/scanner.h"
#include "library/selection.h"
#include "library/styles.h"
#include "util/files.h"
#include "util/sha256.h"

namespace easel::library {
namespace {

using nlohmann::json;

std::string Get(const Query& q, const char* key) {
  auto it = q.find(key);
  return it == q.end() ? "" : it->second;
}

Result<int> IntParam(const Query& q, const char* key, int fallback, int lo, int hi) {
  const std::string v = Get(q, key);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (*end || n < lo || n > hi)
    return InvalidArgument(std::string(key) + ": expected an integer " + std::to_string(lo) + ".." +
                           std::to_string(hi) + ", got '" + v + "'");
  return static_cast<int>(n);
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string ModelId(const std::string& path) {
  return "m_" + Sha256Hex(path).substr(0, 16);
}

std::string ImageContentType(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".webp") return "image/webp";
  if (ext == ".gif") return "image/gif";
  return "";
}

json ModelSummary(const ModelRecord& r) {
  json j = r.ToJson();
  for (const char* k : {"metadata", "evidence", "params", "description", "sidecar_sig", "mtime_ns",
                        "scanned_ms", "sources"})
    j.erase(k);
  j["id"] = ModelId(r.path);
  // Seconds since the Unix epoch, for listings that show dates.
  j["modified"] = r.mtime_ns / 1000000000;
  if (!r.preview.empty())
    j["preview_url"] = "/api/v1/library/models/" + ModelId(r.path) + "/preview";
  return j;
}

Result<LibraryApi::PreviewFile> LibraryApi::Preview(const std::string& id) {
  const bool is_id = id.size() == 18 && id.rfind("m_", 0) == 0 &&
                     id.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
  const bool is_hash = (id.size() == 10 || id.size() == 64) &&
                       id.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!is_id && !is_hash)
    return InvalidArgument("'" + id.substr(0, 80) +
                           "' is not a model id (m_ and 16 hex digits, as listed by "
                           "/api/v1/library/models) nor a SHA-256 / AutoV2 hash");
  std::optional<ModelRecord> found;
  if (is_hash) {
    auto r = index_->FindByHash(id);
    if (!r.ok()) return r.status();
    found = std::move(*r);
  } else {
    auto all = index_->List();
    if (!all.ok()) return all.status();
    for (auto& r : *all)
      if (ModelId(r.path) == id) {
        found = std::move(r);
        break;
      }
    if (!found)
      return NotFound("no model " + id + " in the library: rescan, or list the models again");
  }
  if (found->preview.empty())
    return NotFound("model " + found->name + " has no preview image (none next to the file)");
  const std::string type = ImageContentType(found->preview);
  if (type.empty()) return NotFound("model " + found->name + " has no preview image");
  auto bytes = ReadFile(found->preview, uint64_t{64} << 20);
  if (!bytes.ok())
    return NotFound("the preview of " + found->name + " (" + found->preview +
                    ") cannot be read: " + bytes.status().message() + "; rescan the library");
  return PreviewFile{type, std::move(*bytes)};
}

Result<std::unique_ptr<LibraryApi>> LibraryApi::Open(const std::string& db_path) {
  auto index = store::SqliteModelIndex::Open(db_path);
  if (!index.ok()) return index.status();
  auto presets = store::SqlitePresetStore::Open(db_path);
  if (!presets.ok()) return presets.status();
  return std::unique_ptr<LibraryApi>(new LibraryApi(std::move(*index), std::move(*presets)));
}

ModelLookup LibraryApi::Lookup() {
  ModelLookup disk = DiskLookup();
  return [this, disk](const std::string& path) -> std::optional<ModelRecord> {
    auto r = index_->Get(path);
    if (r.ok()) {
      std::optional<ModelRecord> fresh = disk(path);  // gone since the scan?
      if (!fresh) return std::nullopt;
      return *r;
    }
    return disk(path);
  };
}

Result<json> LibraryApi::ListModels(const Query& q) {
  store::ModelFilter f;
  f.kind = Get(q, "kind");
  f.family = Get(q, "family");
  f.tag = Get(q, "tag");
  f.text = Get(q, "q");
  f.errors_only = Get(q, "errors") == "1" || Get(q, "errors") == "true";
  ModelKind kind;
  if (!f.kind.empty()) {
    if (!ParseKind(f.kind, &kind))
      return InvalidArgument("kind: '" + f.kind +
                             "' is not one of checkpoint, diffusion_model, vae, text_encoder, "
                             "lora, embedding, controlnet, upscaler, unknown");
    f.kind = KindName(kind);
  }
  Family fam;
  if (!f.family.empty() && !ParseFamily(f.family, &fam))
    return InvalidArgument("family: '" + f.family +
                           "' is not one of SD1, SD2, SDXL, SD3, Flux, unknown");
  auto limit = IntParam(q, "limit", 0, 0, 100000);
  if (!limit.ok()) return limit.status();
  auto offset = IntParam(q, "offset", 0, 0, 100000000);
  if (!offset.ok()) return offset.status();
  f.limit = *limit;
  f.offset = *offset;
  auto rows = index_->List(f);
  if (!rows.ok()) return rows.status();
  auto counts = index_->Counts();
  if (!counts.ok()) return counts.status();
  json models = json::array();
  for (const auto& r : *rows) models.push_back(ModelSummary(r));
  return json{{"models", models}, {"count", rows->size()}, {"counts", *counts}};
}

Result<json> LibraryApi::GetModel(const Query& q) {
  const std::string path = Get(q, "path"), hash = Get(q, "hash");
  if (path.empty() == hash.empty()) return InvalidArgument("give exactly one of ?path= or ?hash=");
  auto r = path.empty() ? index_->FindByHash(hash) : index_->Get(path);
  if (!r.ok()) return r.status();
  return r->ToJson();
}

Result<json> LibraryApi::Stats() {
  auto counts = index_->Counts();
  if (!counts.ok()) return counts.status();
  auto grid = index_->CountsByKindAndFamily();
  if (!grid.ok()) return grid.status();
  json by_kind = json::object(), by_family = json::object(), by_kind_family = json::object();
  for (const auto& [kind, families] : *grid) {
    int64_t n = 0;
    for (const auto& [family, count] : families) {
      n += count;
      by_family[family] = by_family.value(family, int64_t{0}) + count;
      by_kind_family[kind][family] = count;
    }
    by_kind[kind] = n;
  }
  return json{{"total", counts->at("total")},
              {"errors", counts->at("errors")},
              {"by_kind", by_kind},
              {"by_family", by_family},
              {"by_kind_family", by_kind_family}};
}

Result<json> LibraryApi::Roots() {
  auto roots = index_->Roots();
  if (!roots.ok()) return roots.status();
  json out = json::array();
  for (const auto& r : *roots)
    out.push_back({{"path", r.path}, {"kind", KindName(r.kind)}, {"source", r.source}});
  return json{{"roots", out}};
}

Result<json> LibraryApi::Rescan(const json& body) {
  if (!body.is_object()) return InvalidArgument("expected a JSON object");
  std::vector<ModelRoot> roots;
  if (auto it = body.find("paths"); it != body.end()) {
    if (!it->is_array()) return InvalidArgument("paths: expected a list of folders");
    for (const auto& p : *it) {
      if (!p.is_string()) return InvalidArgument("paths: expected strings, got " + p.dump());
      roots.push_back(ModelRoot{p.get<std::string>(), ModelKind::kUnknown, "user"});
    }
    EASEL_RETURN_IF_ERROR(index_->AddRoots(roots));
  }
  json notes = json::array();
  if (body.value("discover", false)) {
    Discovery d = DiscoverInstalls(DiscoveryEnvFromProcess());
    for (const auto& n : d.notes) notes.push_back(n);
    EASEL_RETURN_IF_ERROR(index_->AddRoots(d.roots));
  }
  auto stored = index_->Roots();
  if (!stored.ok()) return stored.status();
  if (stored->empty())
    return InvalidArgument(
        "no model folders known: give \"paths\": [\"/path/to/models\"] or \"discover\": true");
  std::lock_guard<std::mutex> lock(scan_mu_);
  auto report = ScanFolders(*stored, *index_);
  if (!report.ok()) return report.status();
  json out = report->ToJson();
  out["notes"] = notes;
  if (body.value("hash", false)) {
    auto h = HashPending(*index_);
    if (!h.ok()) return h.status();
    out["hashed"] = h->hashed;
  }
  return out;
}

Result<json> LibraryApi::Select(const json& body) {
  if (!body.is_object()) return InvalidArgument("expected a JSON object");
  const std::string prompt = Str(body, "prompt");
  if (prompt.empty()) return InvalidArgument("prompt: required");
  SelectOptions o;
  o.style = Str(body, "style");
  if (std::string q = Str(body, "quality"); !q.empty() && !ParseQuality(q, &o.quality))
    return InvalidArgument("quality: '" + q + "' is not one of fast, balanced, high, ultra");
  o.require_supported = body.value("require_supported", true);
  auto lib = index_->List();
  if (!lib.ok()) return lib.status();
  auto sel = SelectForPrompt(prompt, Str(body, "negative_prompt"), *lib, o);
  if (!sel.ok()) return sel.status();
  return sel->ToJson();
}

// ---- presets ---------------------------------------------------------------------------

Result<json> LibraryApi::StorePreset(const json& body, const std::string& name, bool replace) {
  auto type = PresetType(body);
  if (!type.ok()) return type.status();
  json preset = body;
  if (!name.empty()) {
    if (preset.contains("name") && preset["name"] != name)
      return InvalidArgument("name: the body says '" + Str(preset, "name") + "' but the URL '" +
                             name + "'");
    preset["name"] = name;
  }
  if (*type == "image") {
    auto p = ImagePresetFromJson(preset);
    if (!p.ok()) return p.status();
    auto problems = Validate(&*p, Lookup());
    if (!problems.empty())
      return InvalidArgument("preset '" + p->name + "' is not valid:\n" + ProblemsText(problems));
    preset = ToJson(*p);
  } else {
    auto p = LlmPresetFromJson(preset);
    if (!p.ok()) return p.status();
    auto problems = Validate(&*p);
    if (!problems.empty())
      return InvalidArgument("preset '" + p->name + "' is not valid:\n" + ProblemsText(problems));
    preset = ToJson(*p);
  }
  EASEL_RETURN_IF_ERROR(presets_->PutPreset(preset["name"], *type, preset, replace));
  return preset;
}

Result<json> LibraryApi::ListPresets(const Query& q) {
  const std::string type = Get(q, "type");
  if (!type.empty() && type != "image" && type != "llm")
    return InvalidArgument("type: expected image or llm, got '" + type + "'");
  auto all = presets_->ListPresets(type);
  if (!all.ok()) return all.status();
  json out = json::array();
  for (const auto& p : *all) out.push_back(p.preset);
  return json{{"presets", out}};
}

Result<json> LibraryApi::GetPreset(const std::string& name) {
  auto p = presets_->GetPreset(name);
  if (!p.ok()) return p.status();
  return p->preset;
}

Result<json> LibraryApi::CreatePreset(const json& body) {
  return StorePreset(body, "", false);
}

Result<json> LibraryApi::UpdatePreset(const std::string& name, const json& body) {
  auto old = presets_->GetPreset(name);
  if (!old.ok()) return old.status();
  // Fields not given keep their stored values (an edit, not a replacement; RFC 7386).
  json merged = old->preset;
  if (!body.is_object()) return InvalidArgument("expected a JSON object");
  merged.merge_patch(body);  // nested objects (params) merge; null removes a field
  return StorePreset(merged, name, true);
}

Result<json> LibraryApi::DeletePreset(const std::string& name) {
  EASEL_RETURN_IF_ERROR(presets_->DeletePreset(name));
  return json{{"deleted", name}};
}

Result<json> LibraryApi::ValidatePreset(const json& body) {
  auto type = PresetType(body);
  if (!type.ok()) return type.status();
  std::vector<PresetProblem> problems;
  json preset;
  if (*type == "image") {
    auto p = ImagePresetFromJson(body);
    if (!p.ok()) return p.status();
    problems = Validate(&*p, Lookup());
    preset = ToJson(*p);
  } else {
    auto p = LlmPresetFromJson(body);
    if (!p.ok()) return p.status();
    problems = Validate(&*p);
    preset = ToJson(*p);
  }
  json pj = json::array();
  for (const auto& pr : problems) pj.push_back({{"field", pr.field}, {"message", pr.message}});
  return json{{"valid", problems.empty()}, {"problems", pj}, {"preset", preset}};
}

Result<json> LibraryApi::ExportPresets() {
  auto all = presets_->ListPresets();
  if (!all.ok()) return all.status();
  std::vector<json> out;
  for (const auto& p : *all) out.push_back(p.preset);
  return ExportDocument(out);
}

Result<json> LibraryApi::ImportPresets(const json& body) {
  auto docs = PresetsInFile(body.dump());
  if (!docs.ok()) return docs.status();
  const bool replace = body.is_object() && body.value("replace", false);
  json imported = json::array(), failed = json::array();
  for (const json& d : *docs) {
    auto r = StorePreset(d, "", replace);
    if (r.ok())
      imported.push_back((*r)["name"]);
    else
      failed.push_back(
          {{"name", d.is_object() ? d.value("name", "") : ""}, {"error", r.status().message()}});
  }
  return json{{"imported", imported}, {"failed", failed}};
}

Result<ImagePreset> LibraryApi::ImagePresetByName(const std::string& name) {
  auto p = presets_->GetPreset(name);
  if (!p.ok()) return p.status();
  if (p->type != "image")
    return InvalidArgument("preset '" + name + "' is an LLM preset, not an image one");
  auto preset = ImagePresetFromJson(p->preset);
  if (!preset.ok()) return preset.status();
  auto problems = Validate(&*preset, Lookup());
  if (!problems.empty())
    return InvalidArgument("preset '" + name + "' is no longer valid:\n" + ProblemsText(problems));
  return preset;
}

// ---- styles ----------------------------------------------------------------------------

namespace {
json StyleJson(const Style& s) {
  return {{"name", s.name},
          {"prompt", s.prompt},
          {"negative_prompt", s.negative_prompt},
          {"source", s.source}};
}
}  // namespace

Result<json> LibraryApi::ListStyles() {
  auto all = presets_->ListStyles();
  if (!all.ok()) return all.status();
  json out = json::array();
  for (const auto& s : *all) out.push_back(StyleJson(s));
  return json{{"styles", out}};
}

Result<json> LibraryApi::GetStyle(const std::string& name) {
  auto s = presets_->GetStyle(name);
  if (!s.ok()) return s.status();
  return StyleJson(*s);
}

Result<Style> LibraryApi::StyleByName(const std::string& name) {
  return presets_->GetStyle(name);
}

Result<json> LibraryApi::PutStyle(const std::string& name, const json& body) {
  if (!body.is_object())
    return InvalidArgument("expected {\"prompt\": ..., \"negative_prompt\": ...}");
  if (name.empty() || name.size() > 128) return InvalidArgument("style name: 1-128 characters");
  for (const auto& [k, v] : body.items())
    if (k != "prompt" && k != "negative_prompt" && k != "name")
      return InvalidArgument(k + ": unknown field (styles have prompt and negative_prompt)");
  Style s{name, Str(body, "prompt"), Str(body, "negative_prompt"), "user"};
  EASEL_RETURN_IF_ERROR(presets_->PutStyle(s, /*replace=*/true));
  return StyleJson(s);
}

Result<json> LibraryApi::DeleteStyle(const std::string& name) {
  EASEL_RETURN_IF_ERROR(presets_->DeleteStyle(name));
  return json{{"deleted", name}};
}

Result<json> LibraryApi::ImportStylesCsv(const std::string& csv, const std::string& source) {
  auto styles = ParseStylesCsv(csv);
  if (!styles.ok()) return styles.status();
  for (auto& s : *styles) s.source = source.empty() ? "styles.csv" : source;
  auto n = presets_->PutStyles(*styles);
  if (!n.ok()) return n.status();
  return json{{"imported", *n}};
}

Result<json> LibraryApi::ApplyStyle(const json& body) {
  if (!body.is_object())
    return InvalidArgument("expected {\"style\", \"prompt\", \"negative_prompt\"}");
  auto s = presets_->GetStyle(Str(body, "style"));
  if (!s.ok()) return s.status();
  std::string prompt = Str(body, "prompt"), negative = Str(body, "negative_prompt");
  library::ApplyStyle(*s, &prompt, &negative);
  return json{{"prompt", prompt}, {"negative_prompt", negative}};
}

}  // namespace easel::library

// LibraryApi: the model library, presets, styles and zero-config selection as JSON-in /
// JSON-out handlers, for the HTTP routes (server/api_library.h) and tests. Each handler
// validates its input into typed values, calls the stores, and returns the JSON body or a
// Status (kInvalidArgument 400, kNotFound 404 ...). No HTTP types here.
//
// Endpoints (under /api/v1, see server/api_library.h):
//   GET    /models?kind=&family=&tag=&q=&errors=1&limit=&offset=   ListModels
//   GET    /models/info?path=P | ?hash=SHA256|AUTOV2              GetModel
//   POST   /models/rescan {"paths": [...]?, "discover": bool, "hash": bool}   Rescan
//   GET    /models/{id}/preview   the preview image next to the file   Preview
//   GET    /models/roots                                          Roots
//   GET    /stats                  counts by kind and family       Stats
//   POST   /models/select {"prompt", "negative_prompt", "style", "quality"}  Select
//   GET    /presets?type=image|llm                                ListPresets
//   GET    /presets/{name}                                        GetPreset
//   POST   /presets            (preset JSON)                      CreatePreset
//   POST   /presets/{name}     (preset JSON; PUT semantics)       UpdatePreset
//   DELETE /presets/{name}                                        DeletePreset
//   POST   /presets/validate   (preset JSON)                      ValidatePreset
//   GET    /presets/export                                        ExportPresets
//   POST   /presets/import     (export document or list)          ImportPresets
//   GET    /styles, GET /styles/{name}, POST /styles/{name} {"prompt", "negative_prompt"},
//   DELETE /styles/{name}, POST /styles/import (body: styles.csv text),
//   POST   /styles/apply {"style", "prompt", "negative_prompt"}
//
// Thread-safety: handlers may run on many threads at once (the stores serialize their
// connections); rescans run one at a time.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "library/model_roots.h"
#include "library/preset.h"
#include "store/model_index.h"
#include "store/preset_store.h"
#include "util/status.h"

namespace easel::library {

using Query = std::map<std::string, std::string>;

class LibraryApi {
 public:
  // Opens the stores on the Easel database at `db_path`.
  static Result<std::unique_ptr<LibraryApi>> Open(const std::string& db_path);

  Result<nlohmann::json> ListModels(const Query& query);
  Result<nlohmann::json> GetModel(const Query& query);
  Result<nlohmann::json> Rescan(const nlohmann::json& body);
  Result<nlohmann::json> Roots();
  // {"total", "errors", "by_kind": {kind: n}, "by_family": {family: n},
  //  "by_kind_family": {kind: {family: n}}} (by_* count readable files only).
  Result<nlohmann::json> Stats();
  Result<nlohmann::json> Select(const nlohmann::json& body);
  // The preview image of a model by its id (ModelId), SHA-256 or AutoV2: the file's bytes
  // and content type. kNotFound for an unknown model or one without a preview (or whose
  // preview file has gone); kInvalidArgument for a malformed id.
  struct PreviewFile {
    std::string content_type;
    std::string bytes;
  };
  Result<PreviewFile> Preview(const std::string& id);

  Result<nlohmann::json> ListPresets(const Query& query);
  Result<nlohmann::json> GetPreset(const std::string& name);
  Result<nlohmann::json> CreatePreset(const nlohmann::json& body);
  Result<nlohmann::json> UpdatePreset(const std::string& name, const nlohmann::json& body);
  Result<nlohmann::json> DeletePreset(const std::string& name);
  Result<nlohmann::json> ValidatePreset(const nlohmann::json& body);
  Result<nlohmann::json> ExportPresets();
  Result<nlohmann::json> ImportPresets(const nlohmann::json& body);

  Result<nlohmann::json> ListStyles();
  Result<nlohmann::json> GetStyle(const std::string& name);
  Result<nlohmann::json> PutStyle(const std::string& name, const nlohmann::json& body);
  Result<nlohmann::json> DeleteStyle(const std::string& name);
  Result<nlohmann::json> ImportStylesCsv(const std::string& csv_text, const std::string& source);
  Result<nlohmann::json> ApplyStyle(const nlohmann::json& body);

  // For jobs that name a preset or a style: the validated image preset, the style.
  Result<ImagePreset> ImagePresetByName(const std::string& name);
  Result<Style> StyleByName(const std::string& name);

  // The index lookups Validate uses: indexed records first, the disk otherwise.
  ModelLookup Lookup();
  store::SqliteModelIndex& index() { return *index_; }
  store::SqlitePresetStore& presets() { return *presets_; }

 private:
  LibraryApi(std::unique_ptr<store::SqliteModelIndex> index,
             std::unique_ptr<store::SqlitePresetStore> presets)
      : index_(std::move(index)), presets_(std::move(presets)) {}
  // Parses, validates (problems fail with kInvalidArgument listing them) and stores.
  Result<nlohmann::json> StorePreset(const nlohmann::json& body, const std::string& name,
                                     bool replace);

  std::unique_ptr<store::SqliteModelIndex> index_;
  std::unique_ptr<store::SqlitePresetStore> presets_;
  std::mutex scan_mu_;  // one rescan at a time
};

// The compact JSON of a record for listings (no metadata, evidence or params), with its
// "id" and, when it has a preview image, "preview_url" (/api/v1/library/models/{id}/preview).
nlohmann::json ModelSummary(const ModelRecord& r);
// A model's stable id: "m_" + the first 16 hex digits of the SHA-256 of its path (the same
// for the same file across rescans; the path itself is not URL-friendly).
std::string ModelId(const std::string& path);
// The content type of an image file by its extension ("image/png" ...); "" for others.
std::string ImageContentType(const std::string& path);

}  // namespace easel::library

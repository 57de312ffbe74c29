// SqlitePresetStore: presets (table `presets`: name, type, the preset's JSON) and styles
// (table `styles`) in Easel's database (schema v3). The JSON is stored as given; typed
// parsing and validation live in library/preset.h.
//
// Concurrency: one connection per object, guarded by a mutex (calls run one at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "library/styles.h"
#include "store/database.h"
#include "util/status.h"

namespace easel::store {

struct StoredPreset {
  std::string name;
  std::string type;  // "image" | "llm"
  nlohmann::json preset;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

class SqlitePresetStore {
 public:
  static Result<std::unique_ptr<SqlitePresetStore>> Open(const std::string& db_path,
                                                         DatabaseOptions options = {});

  // Inserts, or with `replace` overwrites, the preset named preset["name"]. Without
  // `replace` an existing name fails with kInvalidArgument ("already exists: use edit").
  Status PutPreset(const std::string& name, const std::string& type, const nlohmann::json& preset,
                   bool replace);
  Result<StoredPreset> GetPreset(const std::string& name);
  Result<std::vector<StoredPreset>> ListPresets(const std::string& type = "");
  Status DeletePreset(const std::string& name);  // kNotFound if absent

  Status PutStyle(const library::Style& style, bool replace);
  // Upserts many (an import) in one transaction; returns how many were written.
  Result<int64_t> PutStyles(const std::vector<library::Style>& styles);
  Result<library::Style> GetStyle(const std::string& name);
  Result<std::vector<library::Style>> ListStyles();
  Status DeleteStyle(const std::string& name);

 private:
  explicit SqlitePresetStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  std::mutex mu_;
  std::unique_ptr<Database> db_;
};

}  // namespace easel::store

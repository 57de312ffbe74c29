// SqlitePresetStore: see preset_store.h.
#include "store/preset_store.h"

#include <chrono>
#include <cstdint>

#include "store/easel_schema.h"
#include "store/guarded.h"

namespace easel::store {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

library::Style ReadStyle(Statement& st) {
  return library::Style{st.Text(0), st.Text(1), st.Text(2), st.Text(3)};
}

}  // namespace

Result<std::unique_ptr<SqlitePresetStore>> SqlitePresetStore::Open(const std::string& db_path,
                                                                   DatabaseOptions options) {
  auto db = OpenEaselDatabase(db_path, std::move(options));
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqlitePresetStore>(new SqlitePresetStore(std::move(*db)));
}

Status SqlitePresetStore::PutPreset(const std::string& name, const std::string& type,
                                    const nlohmann::json& preset, bool replace) {
  // The lambda returns false when the name exists and may not be replaced.
  auto r = Guarded([&]() -> bool {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*db_);
    Statement exists = db_->Prepare("SELECT 1 FROM presets WHERE name = ?");
    exists.Bind(1, name);
    const bool found = exists.Step();
    if (found && !replace) return false;
    Statement st = db_->Prepare(
        "INSERT INTO presets (name, type, preset_json, created_ms, updated_ms) VALUES (?1, ?2, ?3, "
        "?4, ?4) "
        "ON CONFLICT (name) DO UPDATE SET type = excluded.type, preset_json = "
        "excluded.preset_json, "
        "updated_ms = excluded.updated_ms");
    st.Bind(1, name).Bind(2, type).Bind(3, preset.dump()).Bind(4, NowMs());
    st.Run();
    tx.Commit();
    return true;
  });
  if (!r.ok()) return r.status();
  if (!*r)
    return InvalidArgument("preset '" + name +
                           "' already exists: use `easel presets edit` or delete it first");
  return Status::Ok();
}

Result<StoredPreset> SqlitePresetStore::GetPreset(const std::string& name) {
  auto r = Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "SELECT name, type, preset_json, created_ms, updated_ms FROM presets WHERE name = ?");
    st.Bind(1, name);
    std::vector<StoredPreset> out;
    if (st.Step())
      out.push_back({st.Text(0), st.Text(1), nlohmann::json::parse(st.Text(2), nullptr, false),
                     st.Int(3), st.Int(4)});
    return out;
  });
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("no preset named '" + name + "': see `easel presets list`");
  return std::move(r->front());
}

Result<std::vector<StoredPreset>> SqlitePresetStore::ListPresets(const std::string& type) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "SELECT name, type, preset_json, created_ms, updated_ms FROM presets "
        "WHERE ?1 = '' OR type = ?1 ORDER BY name");
    st.Bind(1, type);
    std::vector<StoredPreset> out;
    while (st.Step())
      out.push_back({st.Text(0), st.Text(1), nlohmann::json::parse(st.Text(2), nullptr, false),
                     st.Int(3), st.Int(4)});
    return out;
  });
}

Status SqlitePresetStore::DeletePreset(const std::string& name) {
  auto r = Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare("DELETE FROM presets WHERE name = ?");
    st.Bind(1, name);
    st.Run();
    return db_->Changes();
  });
  if (!r.ok()) return r.status();
  if (*r == 0) return NotFound("no preset named '" + name + "': see `easel presets list`");
  return Status::Ok();
}

Status SqlitePresetStore::PutStyle(const library::Style& s, bool replace) {
  auto r = Guarded([&]() -> bool {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*db_);
    Statement exists = db_->Prepare("SELECT 1 FROM styles WHERE name = ?");
    exists.Bind(1, s.name);
    if (exists.Step() && !replace) return false;
    Statement st = db_->Prepare(
        "INSERT OR REPLACE INTO styles (name, prompt, negative_prompt, source, created_ms) "
        "VALUES (?, ?, ?, ?, ?)");
    st.Bind(1, s.name)
        .Bind(2, s.prompt)
        .Bind(3, s.negative_prompt)
        .Bind(4, s.source.empty() ? "user" : s.source)
        .Bind(5, NowMs());
    st.Run();
    tx.Commit();
    return true;
  });
  if (!r.ok()) return r.status();
  if (!*r)
    return InvalidArgument("style '" + s.name +
                           "' already exists: pass --replace or delete it first");
  return Status::Ok();
}

Result<int64_t> SqlitePresetStore::PutStyles(const std::vector<library::Style>& styles) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Transaction tx(*db_);
    Statement st = db_->Prepare(
        "INSERT OR REPLACE INTO styles (name, prompt, negative_prompt, source, created_ms) "
        "VALUES (?, ?, ?, ?, ?)");
    for (const auto& s : styles) {
      st.Reset();
      st.Bind(1, s.name)
          .Bind(2, s.prompt)
          .Bind(3, s.negative_prompt)
          .Bind(4, s.source)
          .Bind(5, NowMs());
      st.Run();
    }
    tx.Commit();
    return static_cast<int64_t>(styles.size());
  });
}

Result<library::Style> SqlitePresetStore::GetStyle(const std::string& name) {
  auto r = Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st =
        db_->Prepare("SELECT name, prompt, negative_prompt, source FROM styles WHERE name = ?");
    st.Bind(1, name);
    std::vector<library::Style> out;
    if (st.Step()) out.push_back(ReadStyle(st));
    return out;
  });
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("no style named '" + name + "': see `easel styles list`");
  return std::move(r->front());
}

Result<std::vector<library::Style>> SqlitePresetStore::ListStyles() {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st =
        db_->Prepare("SELECT name, prompt, negative_prompt, source FROM styles ORDER BY name");
    std::vector<library::Style> out;
    while (st.Step()) out.push_back(ReadStyle(st));
    return out;
  });
}

Status SqlitePresetStore::DeleteStyle(const std::string& name) {
  auto r = Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare("DELETE FROM styles WHERE name = ?");
    st.Bind(1, name);
    st.Run();
    return db_->Changes();
  });
  if (!r.ok()) return r.status();
  if (*r == 0) return NotFound("no style named '" + name + "': see `easel styles list`");
  return Status::Ok();
}

}  // namespace easel::store

// SqliteModelIndex: see model_index.h.
#include "store/model_index.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "store/easel_schema.h"
#include "store/guarded.h"
#include "util/sha256.h"

namespace easel::store {
namespace {

using library::ModelRecord;

constexpr const char* kColumns =
    "path, root, name, kind, family, size, mtime_ns, sidecar_sig, sha256, autov2, error, "
    "record_json, scanned_ms";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::unique_ptr<SqliteModelIndex>> SqliteModelIndex::Open(const std::string& db_path,
                                                                 DatabaseOptions options) {
  auto db = OpenEaselDatabase(db_path, std::move(options));
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteModelIndex>(new SqliteModelIndex(std::move(*db)));
}

ModelRecord SqliteModelIndex::ReadRow(Statement& st) {
  nlohmann::json j = nlohmann::json::parse(st.Text(11), nullptr, false);
  ModelRecord r = ModelRecord::FromJson(j.is_object() ? j : nlohmann::json::object());
  r.path = st.Text(0);
  r.root = st.Text(1);
  r.name = st.Text(2);
  library::ParseKind(st.Text(3), &r.kind);
  library::ParseFamily(st.Text(4), &r.family);
  r.size = st.Int(5);
  r.mtime_ns = st.Int(6);
  r.sidecar_sig = st.Text(7);
  r.sha256 = st.Text(8);
  r.autov2 = st.Text(9);
  r.error = st.Text(10);
  r.scanned_ms = st.Int(12);
  return r;
}

Result<std::map<std::string, FileStamp>> SqliteModelIndex::Stamps(const std::string& root) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, FileStamp> out;
    Statement st =
        db_->Prepare(root.empty() ? "SELECT path, size, mtime_ns, sidecar_sig FROM models"
                                  : "SELECT path, size, mtime_ns, sidecar_sig FROM models "
                                    "WHERE root = ?");
    if (!root.empty()) st.Bind(1, root);
    while (st.Step()) out[st.Text(0)] = FileStamp{st.Int(1), st.Int(2), st.Text(3)};
    return out;
  });
}

Status SqliteModelIndex::Upsert(const std::vector<ModelRecord>& records) {
  return Guarded([&] {
           std::lock_guard<std::mutex> lock(mu_);
           Transaction tx(*db_);
           Statement old = db_->Prepare(
               "SELECT sha256, autov2 FROM models WHERE path = ? AND size = ? AND mtime_ns = ?");
           Statement ins = db_->Prepare(std::string("INSERT OR REPLACE INTO models (") + kColumns +
                                        ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
           Statement del_tags = db_->Prepare("DELETE FROM model_tags WHERE path = ?");
           Statement tag =
               db_->Prepare("INSERT OR IGNORE INTO model_tags (path, tag) VALUES (?, ?)");
           for (const ModelRecord& r : records) {
             std::string sha = r.sha256, autov2 = r.autov2;
             if (sha.empty()) {
               old.Reset();
               old.Bind(1, r.path).Bind(2, r.size).Bind(3, r.mtime_ns);
               if (old.Step()) {
                 sha = old.Text(0);
                 autov2 = old.Text(1);
               }
             }
             nlohmann::json rest = r.ToJson();
             for (const char* k : {"path", "root", "name", "kind", "family", "size", "mtime_ns",
                                   "sidecar_sig", "sha256", "autov2", "error", "scanned_ms"})
               rest.erase(k);
             ins.Reset();
             ins.Bind(1, r.path)
                 .Bind(2, r.root)
                 .Bind(3, r.name)
                 .Bind(4, library::KindName(r.kind))
                 .Bind(5, library::FamilyName(r.family))
                 .Bind(6, r.size)
                 .Bind(7, r.mtime_ns)
                 .Bind(8, r.sidecar_sig)
                 .Bind(9, sha)
                 .Bind(10, autov2)
                 .Bind(11, r.error)
                 .Bind(12, rest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                 .Bind(13, r.scanned_ms);
             ins.Run();
             del_tags.Reset();
             del_tags.Bind(1, r.path);
             del_tags.Run();
             for (const std::string& t : r.tags) {
               tag.Reset();
               tag.Bind(1, r.path).Bind(2, Lower(t));
               tag.Run();
             }
           }
           tx.Commit();
           return true;
         })
      .status();
}

Status SqliteModelIndex::Remove(const std::vector<std::string>& paths) {
  return Guarded([&] {
           std::lock_guard<std::mutex> lock(mu_);
           Transaction tx(*db_);
           Statement del = db_->Prepare("DELETE FROM models WHERE path = ?");
           for (const std::string& p : paths) {
             del.Reset();
             del.Bind(1, p);
             del.Run();
           }
           tx.Commit();
           return true;
         })
      .status();
}

Result<ModelRecord> SqliteModelIndex::Get(const std::string& path) {
  auto r = Guarded([&]() -> std::vector<ModelRecord> {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(std::string("SELECT ") + kColumns + " FROM models WHERE path = ?");
    st.Bind(1, path);
    std::vector<ModelRecord> out;
    if (st.Step()) out.push_back(ReadRow(st));
    return out;
  });
  if (!r.ok()) return r.status();
  if (r->empty())
    return NotFound("no model at " + path +
                    " in the library: run `easel models scan` on its folder");
  return std::move(r->front());
}

Result<ModelRecord> SqliteModelIndex::FindByHash(const std::string& hash_in) {
  const std::string hash = Lower(hash_in);
  auto r = Guarded([&]() -> std::vector<ModelRecord> {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(std::string("SELECT ") + kColumns +
                                " FROM models WHERE sha256 = ?1 OR (length(?1) = 10 AND autov2 = "
                                "?1) ORDER BY path LIMIT 1");
    st.Bind(1, hash);
    std::vector<ModelRecord> out;
    if (st.Step()) out.push_back(ReadRow(st));
    return out;
  });
  if (!r.ok()) return r.status();
  if (r->empty()) return NotFound("no model with hash " + hash_in + " in the library");
  return std::move(r->front());
}

Result<std::vector<ModelRecord>> SqliteModelIndex::List(const ModelFilter& f) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    std::string sql = std::string("SELECT ") + kColumns + " FROM models WHERE 1";
    if (!f.kind.empty()) sql += " AND kind = ?1";
    if (!f.family.empty()) sql += " AND lower(family) = lower(?2)";
    if (!f.tag.empty()) sql += " AND path IN (SELECT path FROM model_tags WHERE tag = ?3)";
    if (!f.text.empty()) sql += " AND (instr(lower(name), ?4) > 0 OR instr(lower(path), ?4) > 0)";
    if (f.errors_only) sql += " AND error != ''";
    sql += " ORDER BY kind, family, name, path";
    if (f.limit > 0)
      sql +=
          " LIMIT " + std::to_string(f.limit) + " OFFSET " + std::to_string(std::max(0, f.offset));
    Statement st = db_->Prepare(sql);
    if (!f.kind.empty()) st.Bind(1, f.kind);
    if (!f.family.empty()) st.Bind(2, f.family);
    if (!f.tag.empty()) st.Bind(3, Lower(f.tag));
    if (!f.text.empty()) st.Bind(4, Lower(f.text));
    std::vector<ModelRecord> out;
    while (st.Step()) out.push_back(ReadRow(st));
    return out;
  });
}

Result<std::map<std::string, int64_t>> SqliteModelIndex::Counts() {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int64_t> out;
    Statement st = db_->Prepare("SELECT kind, count(*) FROM models GROUP BY kind");
    int64_t total = 0;
    while (st.Step()) {
      out[st.Text(0)] = st.Int(1);
      total += st.Int(1);
    }
    out["total"] = total;
    Statement e = db_->Prepare("SELECT count(*) FROM models WHERE error != ''");
    out["errors"] = e.Step() ? e.Int(0) : 0;
    return out;
  });
}

Result<std::map<std::string, std::map<std::string, int64_t>>>
SqliteModelIndex::CountsByKindAndFamily() {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, std::map<std::string, int64_t>> out;
    Statement st = db_->Prepare(
        "SELECT kind, family, count(*) FROM models WHERE error = '' GROUP BY kind, family");
    while (st.Step()) out[st.Text(0)][st.Text(1)] = st.Int(2);
    return out;
  });
}

Status SqliteModelIndex::AddRoots(const std::vector<library::ModelRoot>& roots) {
  return Guarded([&] {
           std::lock_guard<std::mutex> lock(mu_);
           Transaction tx(*db_);
           Statement st = db_->Prepare(
               "INSERT INTO model_roots (path, kind, source, added_ms) VALUES (?, ?, ?, "
               "CAST(strftime('%s', 'now') AS INTEGER) * 1000) ON CONFLICT (path) DO UPDATE SET "
               "kind = excluded.kind, source = excluded.source");
           for (const auto& r : roots) {
             st.Reset();
             st.Bind(1, r.path).Bind(2, library::KindName(r.kind)).Bind(3, r.source);
             st.Run();
           }
           tx.Commit();
           return true;
         })
      .status();
}

Result<std::vector<library::ModelRoot>> SqliteModelIndex::Roots() {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare("SELECT path, kind, source FROM model_roots ORDER BY path");
    std::vector<library::ModelRoot> out;
    while (st.Step()) {
      library::ModelRoot r;
      r.path = st.Text(0);
      library::ParseKind(st.Text(1), &r.kind);
      r.source = st.Text(2);
      out.push_back(r);
    }
    return out;
  });
}

Status SqliteModelIndex::RemoveRoot(const std::string& path) {
  return Guarded([&] {
           std::lock_guard<std::mutex> lock(mu_);
           Transaction tx(*db_);
           Statement a = db_->Prepare("DELETE FROM model_roots WHERE path = ?");
           a.Bind(1, path);
           a.Run();
           Statement b = db_->Prepare("DELETE FROM models WHERE root = ?");
           b.Bind(1, path);
           b.Run();
           tx.Commit();
           return true;
         })
      .status();
}

Result<CivitaiCacheEntry> SqliteModelIndex::CivitaiCached(const std::string& sha256) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st =
        db_->Prepare("SELECT status, body, fetched_ms FROM civitai_cache WHERE sha256 = ?");
    st.Bind(1, sha256);
    CivitaiCacheEntry e;
    if (st.Step()) e = CivitaiCacheEntry{static_cast<int>(st.Int(0)), st.Text(1), st.Int(2)};
    return e;
  });
}

Status SqliteModelIndex::PutCivitaiCache(const std::string& sha256, int status,
                                         const std::string& body, int64_t fetched_ms) {
  return Guarded([&] {
           std::lock_guard<std::mutex> lock(mu_);
           Statement st = db_->Prepare(
               "INSERT OR REPLACE INTO civitai_cache (sha256, status, body, fetched_ms) VALUES (?, "
               "?, ?, ?)");
           st.Bind(1, sha256).Bind(2, status).Bind(3, body).Bind(4, fetched_ms);
           st.Run();
           return true;
         })
      .status();
}

Result<std::vector<PendingHash>> SqliteModelIndex::PendingHashes(int limit) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "SELECT path, size, mtime_ns FROM models WHERE sha256 = '' AND error = '' "
        "ORDER BY scanned_ms, path LIMIT ?");
    st.Bind(1, limit);
    std::vector<PendingHash> out;
    while (st.Step()) out.push_back(PendingHash{st.Text(0), st.Int(1), st.Int(2)});
    return out;
  });
}

Result<bool> SqliteModelIndex::SetHash(const PendingHash& file, const std::string& sha256) {
  return Guarded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st = db_->Prepare(
        "UPDATE models SET sha256 = ?, autov2 = ? WHERE path = ? AND size = ? AND mtime_ns = ?");
    st.Bind(1, sha256)
        .Bind(2, AutoV2Hash(sha256))
        .Bind(3, file.path)
        .Bind(4, file.size)
        .Bind(5, file.mtime_ns);
    st.Run();
    return db_->Changes() > 0;
  });
}

}  // namespace easel::store

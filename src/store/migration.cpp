// Migrate(): user_version-driven schema migrations (see migration.h).
#include "store/migration.h"

#include <cstdio>

namespace easel::store {
namespace {

std::string Hex32(int32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", static_cast<uint32_t>(v));
  return buf;
}

// Names of the tables in the file (excluding SQLite's own), for "this is not ours" errors.
std::string TableNames(Database& db) {
  Statement st = db.Prepare(
      "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' "
      "ORDER BY name LIMIT 6");
  std::string names;
  int n = 0;
  while (st.Step()) {
    if (n++ == 5) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? "" : ", ") + st.Text(0);
  }
  return names;
}

// Throws when the database cannot be migrated by `schema`; returns its version otherwise.
int CheckVersion(Database& db, const Schema& schema) {
  int64_t app_id = db.PragmaInt("application_id");
  int64_t version = db.PragmaInt("user_version");
  const std::string where = "database '" + db.path() + "'";
  if (app_id != 0 && app_id != schema.application_id) {
    throw Error(Code::kUnsupported, where + " belongs to another program (application id " +
                                        Hex32(static_cast<int32_t>(app_id)) + ", " +
                                        schema.program + "'s is " + Hex32(schema.application_id) +
                                        "): " + schema.program +
                                        " left it unchanged; choose another data dir");
  }
  if (app_id == 0) {
    std::string tables = TableNames(db);
    if (version != 0 || !tables.empty()) {
      throw Error(Code::kUnsupported,
                  where + " is an SQLite database of another program (tables: " +
                      (tables.empty() ? "none" : tables) + ", version " + std::to_string(version) +
                      "): " + schema.program + " left it unchanged; choose another data dir");
    }
  }
  if (version < 0 || version > schema.latest()) {
    throw Error(Code::kUnsupported,
                where + " has schema version " + std::to_string(version) + " but this " +
                    schema.program + " knows versions up to " + std::to_string(schema.latest()) +
                    ": it was written by a newer " + schema.program + ". Upgrade " +
                    schema.program + ", or use another data dir; the file was left unchanged");
  }
  return static_cast<int>(version);
}

}  // namespace

Result<MigrationReport> Migrate(Database& db, const Schema& schema) {
  for (size_t i = 0; i < schema.migrations.size(); ++i) {
    if (schema.migrations[i].version != static_cast<int>(i) + 1) {
      return Internal("migration #" + std::to_string(i + 1) + " of " + schema.program +
                      " has version " + std::to_string(schema.migrations[i].version) +
                      ": versions must be 1, 2, 3 ... in order");
    }
  }
  MigrationReport report;
  bool first = true;
  Status st = CatchAll([&] {
    while (true) {
      Transaction tx(db, Transaction::Mode::kImmediate);
      int version = CheckVersion(db, schema);
      if (first) report.from_version = version;
      first = false;
      report.to_version = version;
      if (version == schema.latest()) return;  // rolls back the empty transaction
      const Migration& m = schema.migrations[static_cast<size_t>(version)];
      try {
        if (!m.sql.empty()) db.Exec(m.sql);
        if (m.apply) m.apply(db);
        db.Exec("PRAGMA application_id=" + std::to_string(schema.application_id) +
                "; PRAGMA user_version=" + std::to_string(m.version));
        tx.Commit();
      } catch (const Error& e) {
        throw Error(e.status().code(), "cannot migrate to schema version " +
                                           std::to_string(m.version) + " (" + m.description +
                                           "): " + e.status().message());
      }
      report.to_version = m.version;
    }
  });
  if (!st.ok()) return st;
  return report;
}

}  // namespace easel::store

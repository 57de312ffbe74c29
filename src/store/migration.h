// Versioned schema migrations for an SQLite database (PRAGMA user_version).
//
// A Schema is an application id (PRAGMA application_id: marks the file as ours) and an
// ordered list of migrations 1, 2, 3 ... Migrate() brings a database from its version to the
// newest, each migration in its own transaction together with the version bump, so a crash
// or an error leaves the database at the previous version, never half-migrated.
//
// Rules for writing migrations: never drop or rewrite user data (add tables, columns and
// indexes; copy, don't move); never edit a migration once released: add a new one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/database.h"
#include "util/status.h"

namespace easel::store {

struct Migration {
  int version = 0;          // 1 for the first; each next one adds 1
  std::string description;  // "jobs and job events", shown in errors
  std::string sql;          // ';'-separated statements, run inside the transaction
  // Optional code run after `sql` in the same transaction (data transforms SQL cannot do).
  std::function<void(Database&)> apply;
};

struct Schema {
  std::string program;     // "Easel", for messages
  int32_t application_id;  // written on the first migration, checked on every open
  std::vector<Migration> migrations;
  int latest() const { return static_cast<int>(migrations.size()); }
};

struct MigrationReport {
  int from_version = 0;
  int to_version = 0;
};

// Migrates `db` to schema.latest(). Refuses, changing nothing:
//  - a database written by a newer program (user_version > latest): kUnsupported, saying to
//    upgrade or to use another data dir;
//  - a database of another program (another application id, or no id but tables or a
//    version of its own): kUnsupported;
// A failing migration is rolled back and reported with its version and description; the
// ones before it stay applied. Safe against several processes migrating at once: each step
// re-reads the version under the write lock.
Result<MigrationReport> Migrate(Database& db, const Schema& schema);

}  // namespace easel::store

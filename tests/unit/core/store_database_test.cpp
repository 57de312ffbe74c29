// store::Database, Transaction and Migrate: pragmas on open, rollback unless committed,
// versioned migrations, and databases that must be refused untouched (newer, foreign,
// corrupt).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "io_temp_dir.h"
#include "store/database.h"
#include "store/easel_schema.h"
#include "store/migration.h"
#include "store/sqlite_job_queue.h"

namespace easel::store {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::unique_ptr<Database> MustOpen(const std::string& path, DatabaseOptions options = {}) {
  Result<std::unique_ptr<Database>> db = Database::Open(path, std::move(options));
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(*db) : nullptr;
}

int64_t Count(Database& db, const std::string& table) {
  Statement st = db.Prepare("SELECT count(*) FROM " + table);
  st.Step();
  return st.Int(0);
}

TEST(StoreDatabase, OpenSetsWalFullSyncAndForeignKeys) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  Statement mode = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.Step());
  EXPECT_EQ(mode.Text(0), "wal");
  EXPECT_EQ(db->PragmaInt("synchronous"), 2);  // FULL
  EXPECT_EQ(db->PragmaInt("foreign_keys"), 1);
  EXPECT_EQ(db->path(), dir.File("a.db"));
}

TEST(StoreDatabase, StatementsBindAndReadEveryType) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("a.db"));
  db->Exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT, n TEXT)");
  std::string with_nul("a\0b", 3);
  Statement ins = db->Prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
  ins.Bind(1, int64_t{1} << 62).Bind(2, 2.5).Bind(3, with_nul).BindNull(4);
  ins.Run();
  ins.Reset();
  ins.Bind(1, 7).Bind(2, -1.0).Bind(3, std::string()).Bind(4, "x");
  ins.Run();
  Statement sel = db->Prepare("SELECT i, d, s, n FROM t ORDER BY rowid");
  ASSERT_TRUE(sel.Step());
  EXPECT_EQ(sel.Int(0), int64_t{1} << 62);
  EXPECT_EQ(sel.Double(1), 2.5);
  EXPECT_EQ(sel.Text(2), with_nul);
  EXPECT_TRUE(sel.IsNull(3));
  EXPECT_EQ(sel.Text(3), "");
  ASSERT_TRUE(sel.Step());
  EXPECT_FALSE(sel.IsNull(2));  // "" is bound as text, not NULL
  EXPECT_EQ(sel.Text(2), "");
  EXPECT_FALSE(sel.Step());
}

TEST(StoreDatabase, MalformedSqlIsAnInternalErrorNamingTheSqlAndFile) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("a.db"));
  try {
    db->Prepare("SELEC nonsense");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kInternal);
    EXPECT_TRUE(Contains(e.status().message(), "SELEC nonsense")) << e.status().message();
    EXPECT_TRUE(Contains(e.status().message(), dir.File("a.db")));
  }
  EXPECT_THROW(db->Prepare("SELECT 1; SELECT 2"), Error);
}

TEST(StoreDatabase, TransactionRollsBackUnlessCommitted) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("a.db"));
  db->Exec("CREATE TABLE t (x INTEGER)");
  {
    Transaction tx(*db);
    db->Exec("INSERT INTO t VALUES (1)");
  }  // no Commit
  EXPECT_EQ(Count(*db, "t"), 0);
  EXPECT_FALSE(db->InTransaction());
  try {
    Transaction tx(*db);
    db->Exec("INSERT INTO t VALUES (1)");
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(Count(*db, "t"), 0);
  {
    Transaction tx(*db);
    db->Exec("INSERT INTO t VALUES (2)");
    EXPECT_THROW(Transaction nested(*db), Error);
    tx.Commit();
  }
  EXPECT_EQ(Count(*db, "t"), 1);
}

TEST(StoreDatabase, FailedCommitRollsBackAndSaysSo) {
  testing::TempDir dir;
  bool fail = false;
  DatabaseOptions options;
  options.fail_commit_for_testing = [&] { return fail; };
  auto db = MustOpen(dir.File("a.db"), options);
  db->Exec("CREATE TABLE t (x INTEGER)");
  fail = true;
  try {
    Transaction tx(*db);
    db->Exec("INSERT INTO t VALUES (1)");
    tx.Commit();
    FAIL() << "commit did not fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kIo);
    EXPECT_TRUE(Contains(e.status().message(), "cannot commit")) << e.status().message();
  }
  fail = false;
  EXPECT_FALSE(db->InTransaction());
  EXPECT_EQ(Count(*db, "t"), 0);
}

TEST(StoreDatabase, MissingFolderIsAnIoErrorNamingThePath) {
  testing::TempDir dir;
  std::string path = dir.File("no/such/folder/easel.db");
  Result<std::unique_ptr<Database>> db = Database::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kIo);
  EXPECT_TRUE(Contains(db.status().message(), path)) << db.status().message();
  EXPECT_TRUE(Contains(db.status().message(), "folder exists")) << db.status().message();
}

// ---- migrations ---------------------------------------------------------------------

Schema TestSchema(int n, bool break_last = false) {
  Schema s{"Tester", 0x54455354, {}};
  for (int v = 1; v <= n; ++v) {
    std::string sql = "CREATE TABLE t" + std::to_string(v) + " (x INTEGER)";
    if (break_last && v == n) sql += "; INSERT INTO no_such_table VALUES (1)";
    s.migrations.push_back({v, "step " + std::to_string(v), sql, nullptr});
  }
  return s;
}

bool HasTable(Database& db, const std::string& name) {
  Statement st = db.Prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
  st.Bind(1, name);
  return st.Step();
}

TEST(StoreMigration, FreshDatabaseRunsEveryStep) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("m.db"));
  Result<MigrationReport> r = Migrate(*db, TestSchema(3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from_version, 0);
  EXPECT_EQ(r->to_version, 3);
  EXPECT_EQ(db->PragmaInt("user_version"), 3);
  EXPECT_EQ(db->PragmaInt("application_id"), 0x54455354);
  EXPECT_TRUE(HasTable(*db, "t1") && HasTable(*db, "t2") && HasTable(*db, "t3"));
  // Again: nothing to do.
  r = Migrate(*db, TestSchema(3));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->from_version, 3);
  EXPECT_EQ(r->to_version, 3);
}

TEST(StoreMigration, OldDatabaseRunsOnlyTheNewSteps) {
  testing::TempDir dir;
  {
    auto db = MustOpen(dir.File("m.db"));
    ASSERT_TRUE(Migrate(*db, TestSchema(1)).ok());
    db->Exec("INSERT INTO t1 VALUES (42)");
  }
  auto db = MustOpen(dir.File("m.db"));
  Result<MigrationReport> r = Migrate(*db, TestSchema(3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from_version, 1);
  EXPECT_EQ(r->to_version, 3);
  EXPECT_EQ(Count(*db, "t1"), 1);  // user data kept
}

TEST(StoreMigration, FailingStepRollsBackAloneAndIsNamed) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("m.db"));
  Result<MigrationReport> r = Migrate(*db, TestSchema(3, /*break_last=*/true));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "schema version 3 (step 3)")) << r.status().message();
  EXPECT_EQ(db->PragmaInt("user_version"), 2);  // steps 1 and 2 stay
  EXPECT_TRUE(HasTable(*db, "t2"));
  EXPECT_FALSE(HasTable(*db, "t3"));  // step 3 left nothing behind
  r = Migrate(*db, TestSchema(3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from_version, 2);
}

TEST(StoreMigration, VersionsOutOfOrderAreABug) {
  testing::TempDir dir;
  auto db = MustOpen(dir.File("m.db"));
  Schema s = TestSchema(2);
  s.migrations[1].version = 3;
  Result<MigrationReport> r = Migrate(*db, s);
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_EQ(db->PragmaInt("user_version"), 0);
}

TEST(StoreMigration, EmptyFileBecomesAnEaselDatabase) {
  testing::TempDir dir;
  std::string path = dir.Write("easel.db", "");
  auto db = OpenEaselDatabase(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->PragmaInt("user_version"), EaselSchema().latest());
}

TEST(StoreMigration, NewerDatabaseIsRefusedUnchanged) {
  testing::TempDir dir;
  std::string path = dir.File("easel.db");
  {
    auto db = OpenEaselDatabase(path);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    (*db)->Exec("PRAGMA user_version = 99");
  }
  std::string before = dir.Read("easel.db");
  ASSERT_FALSE(before.empty());
  Result<std::unique_ptr<Database>> db = OpenEaselDatabase(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kUnsupported);
  const std::string& m = db.status().message();
  EXPECT_TRUE(Contains(m, "schema version 99")) << m;
  EXPECT_TRUE(Contains(m, "newer Easel")) << m;
  EXPECT_TRUE(Contains(m, path)) << m;
  EXPECT_EQ(dir.Read("easel.db"), before);
  // The queue refuses it the same way.
  EXPECT_EQ(SqliteJobQueue::Open(path).status().code(), Code::kUnsupported);
}

TEST(StoreMigration, GarbageFileIsCorruptAndUntouched) {
  testing::TempDir dir;
  std::string garbage;
  for (int i = 0; i < 10000; ++i) garbage += static_cast<char>((i * 7919) % 251);
  std::string path = dir.Write("easel.db", garbage);
  Result<std::unique_ptr<Database>> db = OpenEaselDatabase(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kCorrupt);
  const std::string& m = db.status().message();
  EXPECT_TRUE(Contains(m, path)) << m;
  EXPECT_TRUE(Contains(m, "not an SQLite database")) << m;
  EXPECT_TRUE(Contains(m, "has not changed it")) << m;
  EXPECT_EQ(dir.Read("easel.db"), garbage);
}

TEST(StoreMigration, DamagedPagesGiveCorruptNeverACrash) {
  testing::TempDir dir;
  std::string path = dir.File("easel.db");
  {
    auto q = SqliteJobQueue::Open(path);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    for (int i = 0; i < 200; ++i) ASSERT_TRUE((*q)->Submit("txt2img", std::string(500, 'x')).ok());
  }
  std::string bytes = dir.Read("easel.db");
  ASSERT_GT(bytes.size(), 3 * 4096u);
  // Keep page 1 (the header and schema); scribble over every other page.
  for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xa5 ^ (i & 0xff));
  dir.Write("easel.db", bytes);
  auto q = SqliteJobQueue::Open(path);
  Status st = q.ok() ? (*q)->Stats().status() : q.status();
  if (st.ok() && q.ok()) st = (*q)->List({}).status();
  EXPECT_EQ(st.code(), Code::kCorrupt) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "damaged")) << st.message();
}

TEST(StoreMigration, ForeignDatabaseIsRefusedUnchanged) {
  testing::TempDir dir;
  std::string path = dir.File("notes.db");
  {
    auto db = MustOpen(path);
    db->Exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");
  }
  Result<std::unique_ptr<Database>> db = OpenEaselDatabase(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kUnsupported);
  EXPECT_TRUE(Contains(db.status().message(), "another program")) << db.status().message();
  EXPECT_TRUE(Contains(db.status().message(), "notes")) << db.status().message();
  auto raw = MustOpen(path);
  EXPECT_EQ(Count(*raw, "notes"), 1);
  EXPECT_EQ(raw->PragmaInt("user_version"), 0);
}

TEST(StoreMigration, EaselSchemaNeverDropsOrDeletes) {
  for (const Migration& m : EaselSchema().migrations) {
    std::string sql = m.sql;
    std::transform(sql.begin(), sql.end(), sql.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    EXPECT_FALSE(Contains(sql, "DROP ")) << "migration " << m.version;
    EXPECT_FALSE(Contains(sql, "DELETE FROM")) << "migration " << m.version;
    EXPECT_FALSE(Contains(sql, "UPDATE ")) << "migration " << m.version;
  }
}

TEST(StoreMigration, EaselDatabaseReopensAtLatestVersion) {
  testing::TempDir dir;
  std::string path = dir.File("easel.db");
  for (int i = 0; i < 2; ++i) {
    auto db = OpenEaselDatabase(path);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    EXPECT_EQ((*db)->PragmaInt("user_version"), EaselSchema().latest());
    EXPECT_EQ((*db)->PragmaInt("application_id"), kEaselApplicationId);
  }
}

}  // namespace
}  // namespace easel::store

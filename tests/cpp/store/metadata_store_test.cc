#include "mlcore/store/metadata_store.h"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace mlcore::store {
namespace {

using testing::ScopedEnv;
using testing::ScratchDir;

std::unique_ptr<MetadataStore> OpenOrDie(const std::string& path,
                                         MetadataStoreOptions options = {}) {
  options.path = path;
  auto store = MetadataStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

int64_t QueryInt(MetadataStore& store, const std::string& sql, std::vector<Value> params = {}) {
  auto rows = store.Query(sql, params);
  EXPECT_TRUE(rows.ok()) << rows.status();
  if (!rows.ok() || rows->empty()) return -1;
  return std::get<int64_t>(rows->front().front());
}

std::string QueryText(MetadataStore& store, const std::string& sql) {
  auto rows = store.Query(sql);
  EXPECT_TRUE(rows.ok()) << rows.status();
  if (!rows.ok() || rows->empty()) return "";
  return std::get<std::string>(rows->front().front());
}

// Runs SQL on the file with raw SQLite, bypassing the store, as an older mlcore or another tool
// would.
void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error == nullptr ? "" : error;
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

TEST(MetadataStoreTest, OpenCreatesFileInWalModeWithCoreSchema) {
  ScratchDir dir;
  std::string path = dir.Join("nested/home/mlcore.db");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->path(), path);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(QueryText(*store, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryInt(*store, "PRAGMA foreign_keys"), 1);
  EXPECT_EQ(*store->SchemaVersion("store"), static_cast<int>(CoreMigrations().size()));
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM schema_migrations WHERE module = 'store'"),
            static_cast<int64_t>(CoreMigrations().size()));
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM artifacts"), 0);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM properties"), 0);
  EXPECT_EQ(*store->SchemaVersion("never_registered"), 0);
}

TEST(MetadataStoreTest, DefaultPathIsUnderMlcoreHome) {
  ScratchDir dir;
  ScopedEnv home("MLCORE_HOME", dir.Join("home"));
  EXPECT_EQ(*DefaultHome(), dir.Join("home"));
  auto store = MetadataStore::Open();
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->path(), dir.Join("home/mlcore.db"));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("home/mlcore.db")));
}

TEST(MetadataStoreTest, MissingFileWithoutCreateIsNotFound) {
  ScratchDir dir;
  MetadataStoreOptions options;
  options.path = dir.Join("absent.db");
  options.create_if_missing = false;
  auto store = MetadataStore::Open(options);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(store.status().message().find(options.path), absl::string_view::npos);
  EXPECT_FALSE(std::filesystem::exists(options.path));
}

const std::vector<Migration> kDemoV1 = {
    {1, "create_runs", "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"}};
const std::vector<Migration> kDemoV2 = {
    kDemoV1[0],
    {2, "add_run_state",
     "ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';"
     "CREATE INDEX runs_by_state ON runs (state);"}};

TEST(MetadataStoreTest, MigrationsAreAppliedOnceAndRecorded) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(store->Migrate("demo", kDemoV2).ok());
    ASSERT_TRUE(store->Migrate("demo", kDemoV2).ok());
  }
  auto store = OpenOrDie(path);
  ASSERT_TRUE(store->Migrate("demo", kDemoV2).ok());
  EXPECT_EQ(*store->SchemaVersion("demo"), 2);
  auto rows = store->Query(
      "SELECT version, name, applied_at FROM schema_migrations WHERE module = 'demo' "
      "ORDER BY version");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(std::get<std::string>((*rows)[0][1]), "create_runs");
  EXPECT_EQ(std::get<std::string>((*rows)[1][1]), "add_run_state");
  EXPECT_FALSE(std::get<std::string>((*rows)[1][2]).empty());
}

TEST(MetadataStoreTest, StoreFromOlderSchemaIsMigratedKeepingData) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  // What an mlcore that knew only the first core migration left behind, plus a module at v1.
  RawSql(path,
         "CREATE TABLE schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, "
         "  name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (module, version));"
         "CREATE TABLE properties (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
         "INSERT INTO properties VALUES ('owner', 'cern');"
         "INSERT INTO schema_migrations VALUES ('store', 1, 'create_properties', '2024-01-01');"
         "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
         "INSERT INTO runs (name) VALUES ('digits-1'), ('digits-2');"
         "INSERT INTO schema_migrations VALUES ('demo', 1, 'create_runs', '2024-01-01');");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->SchemaVersion("store"), 2);
  EXPECT_EQ(*store->GetProperty("owner"), "cern");
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM artifacts"), 0);
  EXPECT_EQ(QueryText(*store, "PRAGMA journal_mode"), "wal");

  ASSERT_TRUE(store->Migrate("demo", kDemoV2).ok());
  EXPECT_EQ(*store->SchemaVersion("demo"), 2);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM runs WHERE state = 'pending'"), 2);
  EXPECT_EQ(QueryText(*store, "SELECT name FROM runs ORDER BY id LIMIT 1"), "digits-1");
}

TEST(MetadataStoreTest, NewerSchemaIsRefusedAndLeftUnchanged) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  { OpenOrDie(path); }
  RawSql(path, "INSERT INTO schema_migrations (module, version, name) VALUES ('store', 3, 'x');");
  auto store = MetadataStore::Open({.path = path});
  ASSERT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  std::string message(store.status().message());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("schema version 3"), std::string::npos) << message;
  EXPECT_NE(message.find("version 2"), std::string::npos) << message;

  // The refusal wrote nothing: the future version is still recorded and nothing was added.
  RawSql(path, "DELETE FROM schema_migrations WHERE module = 'store' AND version = 3;");
  auto reopened = OpenOrDie(path);
  EXPECT_EQ(QueryInt(*reopened, "SELECT count(*) FROM schema_migrations WHERE module = 'store'"),
            2);
}

TEST(MetadataStoreTest, NewerModuleSchemaIsRefused) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  ASSERT_TRUE(store->Migrate("demo", kDemoV2).ok());
  Status status = store->Migrate("demo", kDemoV1);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("'demo' has schema version 2, newer than version 1"),
            absl::string_view::npos)
      << status;
}

TEST(MetadataStoreTest, BadMigrationListsAreRejected) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  EXPECT_EQ(store->Migrate("Bad-Name", kDemoV1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Migrate("demo", {{2, "skips_one", "SELECT 1"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Migrate("demo", {{1, "", "SELECT 1"}}).code(),
            absl::StatusCode::kInvalidArgument);
  // A failing migration rolls back whole and is not recorded.
  Status failed = store->Migrate(
      "broken", {{1, "half_done", "CREATE TABLE half (x); INSERT INTO missing VALUES (1);"}});
  EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument) << failed;
  EXPECT_NE(failed.message().find("migration 1 'half_done' of module 'broken'"),
            absl::string_view::npos)
      << failed;
  EXPECT_EQ(*store->SchemaVersion("broken"), 0);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM sqlite_schema WHERE name = 'half'"), 0);
}

TEST(MetadataStoreTest, RegisteredMigrationsAreAppliedOnOpen) {
  // Registration is process-wide, so this module's table must not clash with other tests'.
  const std::vector<Migration> registered = {
      {1, "create_items", "CREATE TABLE registered_demo_items (id INTEGER PRIMARY KEY)"}};
  ASSERT_TRUE(RegisterMigrations("registered_demo", registered).ok());
  ASSERT_TRUE(RegisterMigrations("registered_demo", registered).ok());
  EXPECT_EQ(RegisterMigrations("registered_demo", kDemoV2).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterMigrations("store", kDemoV1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterMigrations("Bad Name", registered).code(), absl::StatusCode::kInvalidArgument);
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  EXPECT_EQ(*store->SchemaVersion("registered_demo"), 1);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM registered_demo_items"), 0);
}

TEST(MetadataStoreTest, StatementBindsAndReadsEveryType) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  ASSERT_TRUE(store->Execute("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)").ok());
  {
    auto insert = store->Prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)");
    ASSERT_TRUE(insert.ok()) << insert.status();
    EXPECT_EQ(insert->parameter_count(), 5);
    ASSERT_TRUE(insert->BindInt64(1, int64_t{1} << 40).ok());
    ASSERT_TRUE(insert->BindDouble(2, 0.25).ok());
    ASSERT_TRUE(insert->BindText(3, "it's \"quoted\"; DROP TABLE t").ok());
    ASSERT_TRUE(insert->BindBlob(4, std::string("a\0b", 3)).ok());
    ASSERT_TRUE(insert->BindNull(5).ok());
    EXPECT_EQ(*insert->Step(), false);
    EXPECT_EQ(store->changes(), 1);
    EXPECT_EQ(store->last_insert_rowid(), 1);
    // Reuse with named-style values through Reset, and an empty blob that must not read as NULL.
    ASSERT_TRUE(insert->Reset().ok());
    ASSERT_TRUE(insert->BindBlob(4, "").ok());
    EXPECT_EQ(*insert->Step(), false);
  }
  auto select = store->Prepare("SELECT i, d, s, b, n FROM t WHERE i = :i");
  ASSERT_TRUE(select.ok()) << select.status();
  ASSERT_TRUE(select->BindInt64(":i", int64_t{1} << 40).ok());
  ASSERT_EQ(*select->Step(), true);
  EXPECT_EQ(select->column_count(), 5);
  EXPECT_EQ(select->column_name(2), "s");
  EXPECT_EQ(select->column_type(0), ColumnType::kInt64);
  EXPECT_EQ(select->ColumnInt64(0), int64_t{1} << 40);
  EXPECT_EQ(select->column_type(1), ColumnType::kDouble);
  EXPECT_DOUBLE_EQ(select->ColumnDouble(1), 0.25);
  EXPECT_EQ(select->ColumnText(2), "it's \"quoted\"; DROP TABLE t");
  EXPECT_EQ(select->column_type(3), ColumnType::kBlob);
  EXPECT_EQ(select->ColumnBlob(3), std::string("a\0b", 3));
  EXPECT_TRUE(select->ColumnIsNull(4));
  Row row = select->ReadRow();
  EXPECT_EQ(std::get<Blob>(row[3]).bytes, std::string("a\0b", 3));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(row[4]));
  ASSERT_EQ(*select->Step(), true);
  EXPECT_EQ(select->column_type(3), ColumnType::kBlob);
  EXPECT_EQ(select->ColumnBlob(3), "");
  EXPECT_EQ(*select->Step(), false);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM t"), 2);
}

TEST(MetadataStoreTest, BadSqlAndBindingsNameTheProblem) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  Status syntax = store->Execute("SELEC 1");
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(syntax.message().find("SELEC 1"), absl::string_view::npos) << syntax;
  EXPECT_NE(syntax.message().find(store->path()), absl::string_view::npos) << syntax;

  EXPECT_EQ(store->Prepare("SELECT 1; SELECT 2").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Prepare("   ").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->Prepare("SELECT 1; -- trailing comment").ok());

  auto statement = store->Prepare("SELECT :a");
  ASSERT_TRUE(statement.ok());
  Status unknown = statement->BindInt64(":b", 1);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("':b'"), absl::string_view::npos) << unknown;
  EXPECT_EQ(statement->BindInt64(7, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Query("SELECT ?1", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MetadataStoreTest, ConstraintViolationsHaveFittingCodes) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  ASSERT_TRUE(store
                  ->Execute("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                            "CREATE TABLE child (pid INTEGER NOT NULL REFERENCES parent (id));"
                            "INSERT INTO parent VALUES (1);")
                  .ok());
  EXPECT_EQ(store->Execute("INSERT INTO parent VALUES (1)").code(),
            absl::StatusCode::kAlreadyExists);
  // Foreign keys are enforced: the store turns them on at open.
  EXPECT_EQ(store->Execute("INSERT INTO child VALUES (2)").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->Execute("INSERT INTO child VALUES (1)").ok());
}

TEST(MetadataStoreTest, TransactionCommitsOrRollsBack) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  ASSERT_TRUE(store->Execute("CREATE TABLE t (x INTEGER)").ok());
  Status status = store->Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(store->Execute("INSERT INTO t VALUES (1)"));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message(), "changed my mind");
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM t"), 0);

  // A failing statement inside rolls back the earlier ones too.
  status = store->Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(store->Execute("INSERT INTO t VALUES (2)"));
    return store->Execute("INSERT INTO no_such_table VALUES (3)");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM t"), 0);

  EXPECT_THROW(store
                   ->Transaction([&]() -> Status {
                     store->Execute("INSERT INTO t VALUES (4)").IgnoreError();
                     throw std::runtime_error("boom");
                   })
                   .IgnoreError(),
               std::runtime_error);
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM t"), 0);

  ASSERT_TRUE(store->Transaction([&] { return store->Execute("INSERT INTO t VALUES (5)"); }).ok());
  EXPECT_EQ(QueryInt(*store, "SELECT count(*) FROM t"), 1);
}

TEST(MetadataStoreTest, NestedTransactionsAreSavepoints) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  ASSERT_TRUE(store->Execute("CREATE TABLE t (x INTEGER)").ok());
  Status outer = store->Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(store->Execute("INSERT INTO t VALUES (1)"));
    Status inner = store->Transaction([&]() -> Status {
      MLCORE_RETURN_IF_ERROR(store->Execute("INSERT INTO t VALUES (2)"));
      return absl::InternalError("inner fails");
    });
    EXPECT_EQ(inner.code(), absl::StatusCode::kInternal);
    return store->Transaction([&] { return store->Execute("INSERT INTO t VALUES (3)"); });
  });
  ASSERT_TRUE(outer.ok()) << outer;
  EXPECT_EQ(QueryText(*store, "SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY x)"), "1,3");
}

TEST(MetadataStoreTest, PropertiesRoundTrip) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  EXPECT_EQ(store->GetProperty("owner").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->SetProperty("owner", "alice").ok());
  ASSERT_TRUE(store->SetProperty("owner", "bob").ok());
  EXPECT_EQ(*store->GetProperty("owner"), "bob");
}

TEST(MetadataStoreTest, ThreadsSharingOneStoreLoseNoUpdates) {
  ScratchDir dir;
  auto store = OpenOrDie(dir.Join("mlcore.db"));
  ASSERT_TRUE(
      store->Execute("CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0)").ok());
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        Status status = store->Transaction([&]() -> Status {
          MLCORE_ASSIGN_OR_RETURN(auto rows, store->Query("SELECT n FROM counter"));
          int64_t n = std::get<int64_t>(rows.at(0).at(0));
          return store->Query("UPDATE counter SET n = ?1", {n + 1}).status();
        });
        if (!status.ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(QueryInt(*store, "SELECT n FROM counter"), kThreads * kIncrements);
}

TEST(MetadataStoreTest, BusyStoreTimesOutWithDeadlineExceeded) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  auto store = OpenOrDie(path, {.busy_timeout = absl::Milliseconds(300)});
  ASSERT_TRUE(store->Execute("CREATE TABLE t (x INTEGER)").ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto start = std::chrono::steady_clock::now();
  Status status = store->Transaction([&] { return store->Execute("INSERT INTO t VALUES (1)"); });
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find(path), absl::string_view::npos) << status;
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(store->Execute("INSERT INTO t VALUES (1)").code(), absl::StatusCode::kDeadlineExceeded);

  // Once the other writer is done, the same store proceeds.
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(store->Transaction([&] { return store->Execute("INSERT INTO t VALUES (1)"); }).ok());
}

}  // namespace
}  // namespace mlcore::store

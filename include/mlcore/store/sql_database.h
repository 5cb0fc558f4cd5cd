// The SQL interface every store backend implements: the SQLite metadata store (MetadataStore) and
// a PostgreSQL database (PostgresDatabase). Modules that keep records (pipelines, the scheduler
// of recurring runs, the model registry) write their SQL once against this interface; there is
// no ORM. The SQL they share is the subset both servers run the same way:
//   - parameters ?1..?N (PostgreSQL's $1..$N is written for them);
//   - INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE, RETURNING, COALESCE, CASE;
//   - no SQLite-only functions (scalar MAX(a, b), sqlite_master): use CASE and HasTable.
// Each module keeps one migration list per dialect (their column types differ), applied by the
// same per-module mechanism (store/migrations.h). See docs/postgres.md.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/store/statement.h"

namespace mlcore::store {

struct Migration;

enum class SqlDialect { kSqlite, kPostgres };

class SqlDatabase {
 public:
  virtual ~SqlDatabase() = default;

  virtual SqlDialect dialect() const = 0;
  // For messages: the SQLite file's path, or the PostgreSQL URL with its password redacted.
  virtual std::string description() const = 0;

  // Runs one statement with `params` bound to ?1..?N and returns every row. Inside Transaction,
  // on the transaction's connection.
  virtual StatusOr<std::vector<Row>> Query(std::string_view sql,
                                           const std::vector<Value>& params = {}) = 0;
  // Runs statements without parameters (DDL, maintenance).
  virtual Status Execute(std::string_view sql) = 0;
  // Runs fn in one transaction: commits when it returns OK, rolls back otherwise. Nested calls
  // are savepoints. On PostgreSQL fn may run again (serialization failure, lost connection), so
  // it must only touch the database and its own locals.
  virtual Status Transaction(const std::function<Status()>& fn) = 0;
  // Applies `module`'s migrations (written for this database's dialect).
  virtual Status Migrate(std::string_view module, const std::vector<Migration>& migrations) = 0;
  // Whether `table` exists.
  virtual StatusOr<bool> HasTable(std::string_view table) = 0;
};

// True when `location` names a database server rather than a SQLite file (postgresql://...).
bool IsDatabaseUrl(std::string_view location);

// The store location of mlcore's records: $MLCORE_STORE when set and not empty (a
// postgresql:// URL, or a SQLite file path), else `home` + "/mlcore.db". `home` may itself be
// a postgresql:// URL (mlcore.run(..., home="postgresql://...")): then that URL.
std::string StoreLocation(std::string_view home);

// Where files (artifacts, task logs) live when `home` is a database URL: DefaultHome(); else
// `home` itself.
StatusOr<std::string> FilesHome(std::string_view home);

struct SqlDatabaseOptions {
  // SQLite: how long a call waits for another process's write; PostgreSQL: the lock timeout.
  absl::Duration busy_timeout = absl::Seconds(30);
  // SQLite: false makes a missing file NotFound instead of creating it (a reader such as the
  // dashboard must not leave an empty store behind). PostgreSQL: no effect.
  bool create_if_missing = true;
};

// Opens the store at `location`: a postgresql:// URL (a PostgresDatabase with its own pool) or
// a SQLite file path (a MetadataStore, creating the file). Applies the store's own migrations.
StatusOr<std::shared_ptr<SqlDatabase>> OpenSqlDatabase(std::string_view location,
                                                       const SqlDatabaseOptions& options = {});

// The records and files of an mlcore home, as every module that keeps records opens them.
struct HomeStore {
  std::string location;    // StoreLocation(home): where the records are
  std::string files_home;  // FilesHome(home): artifacts/, logs, scratch
  std::shared_ptr<SqlDatabase> db;
};

// Opens the store of `home` (empty: DefaultHome()): $MLCORE_STORE, a postgresql:// home, or
// <home>/mlcore.db. InvalidArgument for a negative busy timeout.
StatusOr<HomeStore> OpenHomeStore(std::string_view home, const SqlDatabaseOptions& options = {});

// Applies `module`'s migrations for the database's dialect: `sqlite` or `postgres`.
Status MigrateModule(SqlDatabase& db, std::string_view module, const std::vector<Migration>& sqlite,
                     const std::vector<Migration>& postgres);

}  // namespace mlcore::store

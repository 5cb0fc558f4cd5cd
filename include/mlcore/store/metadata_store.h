// The metadata store: one SQLite database, $MLCORE_HOME/mlcore.db, that records runs, tasks,
// artifacts, lineage, studies, trials and registered models. It is a plain file so that a notebook,
// a C++ program and a training process can share it with no server; WAL mode and a busy timeout
// let several processes write it at once, and per-module migrations let each module own its
// tables. See docs/store.md for the file layout and guarantees.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/store/sql_database.h"
#include "mlcore/store/statement.h"

struct sqlite3;

namespace mlcore::store {

// Where mlcore keeps its data: $MLCORE_HOME when set and not empty, else $HOME/.mlcore.
// FailedPrecondition when neither variable is set. Read at each call, never cached.
StatusOr<std::string> DefaultHome();

// One forward step of a module's schema. Versions of a module start at 1 and go up by one; a
// migration never changes once released (add a new one instead), because stores in the field
// have already recorded it as applied.
struct Migration {
  int version = 0;
  std::string name;  // short, for people: "create_trials"
  std::string sql;   // one or more statements, run in one transaction
};

// The migrations of the store itself ("store" module): the `properties` and `artifacts` tables.
const std::vector<Migration>& CoreMigrations();

// Registers `module`'s migrations (module: lowercase letters, digits, '_'), so that every
// MetadataStore opened afterwards in this process brings that module's tables up to date.
// Registering the same list again is a no-op; a different list under the same name is
// AlreadyExists. Modules that open their tables lazily can call MetadataStore::Migrate instead.
Status RegisterMigrations(std::string_view module, std::vector<Migration> migrations);

struct MetadataStoreOptions {
  // The database file. Empty: DefaultHome() + "/mlcore.db".
  std::string path;

  // Create the file (and its directory) when it does not exist. When false, a missing file is
  // NotFound.
  bool create_if_missing = true;

  // How long a call waits for another process's write to finish before giving up with
  // DeadlineExceeded. Raising it lets more writers queue behind a long transaction; it also makes
  // a stuck writer take longer to notice.
  absl::Duration busy_timeout = absl::Seconds(30);

  // false: a commit reaches the WAL file without fsync; a power loss (not a process crash) may
  // lose the last few commits but never corrupts the store. true: fsync at every commit, so a
  // committed transaction survives power loss, at the cost of one fsync (about a millisecond on
  // SSDs, more on network disks) per commit.
  bool sync_on_commit = false;
};

// A connection to the metadata store. Safe to share between threads: calls are serialized on
// the connection, and a Transaction holds it for its whole length, so other threads' calls wait
// rather than slip into it. Several processes may open the same file at once.
class MetadataStore : public SqlDatabase {
 public:
  // Opens (creating when allowed) the store and applies pending migrations: the store's own,
  // then each registered module's. Errors: DataLoss naming the file when it is corrupted or
  // truncated; FailedPrecondition when it was written by a newer mlcore (naming both schema
  // versions); DeadlineExceeded when other processes held it longer than the busy timeout.
  static StatusOr<std::unique_ptr<MetadataStore>> Open(const MetadataStoreOptions& options = {});

  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;
  ~MetadataStore() override;

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  std::string description() const override { return path_; }
  StatusOr<bool> HasTable(std::string_view table) override;

  // Brings `module`'s tables up to date: applies each migration newer than the recorded version,
  // each in its own BEGIN IMMEDIATE transaction, and records it in schema_migrations. Several
  // processes may do this at once; each migration is applied exactly once. FailedPrecondition
  // when the store records a version newer than the last one in `migrations`.
  Status Migrate(std::string_view module, const std::vector<Migration>& migrations) override;

  // The highest applied migration version of `module`; 0 when none.
  StatusOr<int> SchemaVersion(std::string_view module);

  // Runs one or more SQL statements that take no parameters (DDL, maintenance).
  Status Execute(std::string_view sql) override;

  // Prepares one statement. Trailing text after the first statement is InvalidArgument.
  StatusOr<Statement> Prepare(std::string_view sql);

  // Prepares `sql`, binds `params` to ?1..?N, runs it and returns all rows.
  StatusOr<std::vector<Row>> Query(std::string_view sql,
                                   const std::vector<Value>& params = {}) override;

  // Runs fn inside a transaction and commits when it returns OK; rolls back and returns its
  // status otherwise. The write lock is taken up front (BEGIN IMMEDIATE), so fn never fails
  // half-way because another process wrote first; BEGIN is retried while the store is busy, up
  // to the busy timeout. Nested calls become savepoints: an inner failure undoes only the inner
  // work and the outer fn decides what to do with its status.
  Status Transaction(const std::function<Status()>& fn) override;

  // Runs SQLite's full integrity check (reads every page; slow on big stores). DataLoss naming
  // the file and the first problems found.
  Status Verify();

  // A small key/value table for store-wide settings. NotFound for a missing key.
  StatusOr<std::string> GetProperty(std::string_view key);
  Status SetProperty(std::string_view key, std::string_view value);

  // The rowid of the last successful INSERT and the rows changed by the last statement, on this
  // connection (meaningful right after the statement, inside the same Transaction).
  int64_t last_insert_rowid();
  int64_t changes();

  const std::string& path() const { return path_; }
  const MetadataStoreOptions& options() const { return options_; }

 private:
  friend class Statement;
  MetadataStore(MetadataStoreOptions options, std::string path);

  Status Initialize();
  Status BeginImmediate();
  Status ExecuteLocked(std::string_view sql);
  // The Status for SQLite result `rc`, naming the file and, when given, the SQL involved.
  Status SqliteError(int rc, std::string_view what) const;
  static int BusyHandler(void* self, int attempts);

  MetadataStoreOptions options_;
  std::string path_;
  sqlite3* db_ = nullptr;
  std::recursive_mutex mu_;
  int transaction_depth_ = 0;
  // When the current wait for a lock gives up. The busy handler starts a new wait at each call's
  // first retry unless a caller has pinned one deadline over several calls.
  absl::Time busy_deadline_ = absl::InfinitePast();
  bool busy_deadline_pinned_ = false;
};

}  // namespace mlcore::store

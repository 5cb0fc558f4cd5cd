#include "mlcore/store/metadata_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"
#include "mlcore/core/logging.h"
#include "store/file_header.h"
#include "store/migrations.h"
#include "store/sqlite_status.h"

namespace mlcore::store {
namespace {

using ::mlcore::internal::AV;

void SleepWithJitter(absl::Duration longest) {
  thread_local std::minstd_rand rng(std::random_device{}());
  int64_t max_us = std::max<int64_t>(absl::ToInt64Microseconds(longest), 2);
  std::uniform_int_distribution<int64_t> dist(max_us / 2, max_us);
  std::this_thread::sleep_for(std::chrono::microseconds(dist(rng)));
}

Status CreateParentDirectory(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("metadata store ", path,
                                                    ": cannot create its directory ",
                                                    parent.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace

MetadataStore::MetadataStore(MetadataStoreOptions options, std::string path)
    : options_(std::move(options)), path_(std::move(path)) {}

MetadataStore::~MetadataStore() {
  // close_v2 waits for statements a caller still holds instead of failing.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

StatusOr<std::unique_ptr<MetadataStore>> MetadataStore::Open(const MetadataStoreOptions& options) {
  std::string path = options.path;
  if (path.empty()) {
    MLCORE_ASSIGN_OR_RETURN(std::string home, DefaultHome());
    path = home + "/mlcore.db";
  }
  if (options.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("metadata store ", path,
                                                   ": busy_timeout must not be negative, got ",
                                                   absl::FormatDuration(options.busy_timeout)));
  }
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("metadata store ", path, " does not exist (create_if_missing is false)"));
    }
    MLCORE_RETURN_IF_ERROR(CreateParentDirectory(path));
  }
  // Before SQLite touches the file: a damaged file must be reported, never rewritten.
  MLCORE_RETURN_IF_ERROR(internal::CheckDatabaseFile(path));
  std::unique_ptr<MetadataStore> store(new MetadataStore(options, path));
  MLCORE_RETURN_IF_ERROR(store->Initialize());
  return store;
}

Status MetadataStore::Initialize() {
  std::lock_guard lock(mu_);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
  if (options_.create_if_missing) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, "opening the file");
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_handler(db_, &MetadataStore::BusyHandler, this);

  // Reading the schema makes SQLite parse the header and the schema pages, so that damage is
  // found now, before the first write.
  MLCORE_RETURN_IF_ERROR(ExecuteLocked("SELECT count(*) FROM sqlite_schema"));

  // Switching to WAL needs a moment alone with the file; when several processes open a new store
  // at once, all but one see BUSY here without the busy handler being consulted, so retry.
  absl::Time deadline = absl::Now() + options_.busy_timeout;
  std::string mode;
  while (true) {
    StatusOr<std::vector<Row>> rows = Query("PRAGMA journal_mode = WAL");
    if (rows.ok()) {
      if (!rows->empty() && !rows->front().empty()) {
        if (const auto* text = std::get_if<std::string>(&rows->front().front())) mode = *text;
      }
      break;
    }
    if (rows.status().code() != absl::StatusCode::kDeadlineExceeded || absl::Now() >= deadline) {
      return rows.status();
    }
    SleepWithJitter(absl::Milliseconds(5));
  }
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "metadata store ", path_, ": SQLite cannot use WAL mode here (journal mode stays '", mode,
        "'); WAL needs a local file system with shared memory, so put MLCORE_HOME on a local "
        "disk"));
  }
  MLCORE_RETURN_IF_ERROR(ExecuteLocked("PRAGMA foreign_keys = ON"));
  MLCORE_RETURN_IF_ERROR(ExecuteLocked(options_.sync_on_commit ? "PRAGMA synchronous = FULL"
                                                               : "PRAGMA synchronous = NORMAL"));

  MLCORE_RETURN_IF_ERROR(Migrate(internal::kCoreModule, CoreMigrations()));
  for (const auto& [module, migrations] : internal::RegisteredMigrations()) {
    MLCORE_RETURN_IF_ERROR(Migrate(module, migrations));
  }
  return absl::OkStatus();
}

int MetadataStore::BusyHandler(void* self, int attempts) {
  auto* store = static_cast<MetadataStore*>(self);
  absl::Time now = absl::Now();
  if (attempts == 0 && !store->busy_deadline_pinned_) {
    store->busy_deadline_ = now + store->options_.busy_timeout;
  }
  if (now >= store->busy_deadline_) return 0;
  // Most waits are for another process's transaction of a few milliseconds, so start with
  // sub-millisecond naps and back off to 10 ms; the jitter keeps processes that woke together
  // from colliding again.
  absl::Duration nap =
      std::min(absl::Microseconds(100) * (1 << std::min(attempts, 7)), absl::Milliseconds(10));
  SleepWithJitter(std::min(nap, store->busy_deadline_ - now));
  return 1;
}

Status MetadataStore::SqliteError(int rc, std::string_view what) const {
  return internal::SqliteStatus(rc, path_, what, db_ == nullptr ? "" : sqlite3_errmsg(db_),
                                db_ == nullptr ? 0 : sqlite3_system_errno(db_));
}

Status MetadataStore::Execute(std::string_view sql) {
  std::lock_guard lock(mu_);
  return ExecuteLocked(sql);
}

Status MetadataStore::ExecuteLocked(std::string_view sql) {
  const char* tail = sql.data();
  const char* end = sql.data() + sql.size();
  while (tail < end) {
    sqlite3_stmt* stmt = nullptr;
    const char* next = nullptr;
    int rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &stmt, &next);
    if (rc != SQLITE_OK) {
      return SqliteError(
          rc, absl::StrCat("preparing ", internal::QuoteSql(std::string_view(tail, end - tail))));
    }
    tail = next;
    if (stmt == nullptr) continue;  // only whitespace or a comment was left
    do {
      rc = sqlite3_step(stmt);
    } while (rc == SQLITE_ROW);
    if (rc != SQLITE_DONE) {
      Status status =
          SqliteError(rc, absl::StrCat("running ", internal::QuoteSql(sqlite3_sql(stmt))));
      sqlite3_finalize(stmt);
      return status;
    }
    sqlite3_finalize(stmt);
  }
  return absl::OkStatus();
}

StatusOr<Statement> MetadataStore::Prepare(std::string_view sql) {
  std::lock_guard lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  if (rc != SQLITE_OK) {
    return SqliteError(rc, absl::StrCat("preparing ", internal::QuoteSql(sql)));
  }
  if (stmt == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata store ", path_, ": no SQL statement in ", internal::QuoteSql(sql)));
  }
  Statement statement(this, stmt);
  // Anything but whitespace and comments after the first statement would be silently ignored.
  const char* end = sql.data() + sql.size();
  sqlite3_stmt* extra = nullptr;
  rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &extra, nullptr);
  if (extra != nullptr || rc != SQLITE_OK) {
    sqlite3_finalize(extra);
    return absl::InvalidArgumentError(
        absl::StrCat("metadata store ", path_, ": Prepare takes one SQL statement but ",
                     internal::QuoteSql(sql), " has more; use Execute for scripts"));
  }
  return statement;
}

StatusOr<std::vector<Row>> MetadataStore::Query(std::string_view sql,
                                                const std::vector<Value>& params) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Statement statement, Prepare(sql));
  MLCORE_RETURN_IF_ERROR(statement.BindAll(params));
  std::vector<Row> rows;
  while (true) {
    MLCORE_ASSIGN_OR_RETURN(bool has_row, statement.Step());
    if (!has_row) break;
    rows.push_back(statement.ReadRow());
  }
  return rows;
}

Status MetadataStore::BeginImmediate() {
  // One deadline for all attempts, so retrying never stretches the wait past the busy timeout.
  busy_deadline_ = absl::Now() + options_.busy_timeout;
  busy_deadline_pinned_ = true;
  Status status;
  while (true) {
    int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      status = absl::OkStatus();
      break;
    }
    if (!internal::IsBusy(rc) || absl::Now() >= busy_deadline_) {
      status = SqliteError(rc, "starting a write transaction (BEGIN IMMEDIATE)");
      break;
    }
    SleepWithJitter(absl::Milliseconds(1));
  }
  busy_deadline_pinned_ = false;
  return status;
}

Status MetadataStore::Transaction(const std::function<Status()>& fn) {
  std::lock_guard lock(mu_);
  // Inside a transaction (ours, or one a caller began with Execute("BEGIN")), nest a savepoint.
  const bool nested = transaction_depth_ > 0 || sqlite3_get_autocommit(db_) == 0;
  const std::string savepoint = absl::StrCat("mlcore_savepoint_", transaction_depth_);
  if (nested) {
    MLCORE_RETURN_IF_ERROR(ExecuteLocked("SAVEPOINT " + savepoint));
  } else {
    MLCORE_RETURN_IF_ERROR(BeginImmediate());
  }

  // Undo on every way out but a successful commit, exceptions from fn included.
  struct Undo {
    MetadataStore* store;
    bool nested;
    const std::string& savepoint;
    bool armed = true;
    ~Undo() {
      --store->transaction_depth_;
      if (!armed) return;
      if (nested) {
        store->ExecuteLocked("ROLLBACK TO " + savepoint).IgnoreError();
        store->ExecuteLocked("RELEASE " + savepoint).IgnoreError();
      } else if (sqlite3_get_autocommit(store->db_) == 0) {
        // SQLite may already have rolled back by itself after an I/O or disk-full error.
        store->ExecuteLocked("ROLLBACK").IgnoreError();
      }
    }
  } undo{this, nested, savepoint};
  ++transaction_depth_;

  Status status = fn();
  if (!status.ok()) return status;
  if (nested) {
    status = ExecuteLocked("RELEASE " + savepoint);
  } else {
    busy_deadline_ = absl::Now() + options_.busy_timeout;
    busy_deadline_pinned_ = true;
    int rc;
    while (internal::IsBusy(rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr)) &&
           absl::Now() < busy_deadline_) {
      SleepWithJitter(absl::Milliseconds(1));
    }
    busy_deadline_pinned_ = false;
    if (rc != SQLITE_OK) status = SqliteError(rc, "committing a transaction");
  }
  if (status.ok()) undo.armed = false;
  return status;
}

namespace {

// The SQLite side of the shared migration steps (store/migrations.h): BEGIN IMMEDIATE takes the
// write lock, which is what excludes other migrating processes.
class SqliteMigrationTarget : public internal::MigrationTarget {
 public:
  explicit SqliteMigrationTarget(MetadataStore& store) : store_(store) {}
  std::string Name() const override { return absl::StrCat("metadata store ", store_.path()); }
  Status EnsureTable() override {
    MLCORE_ASSIGN_OR_RETURN(std::vector<Row> tables,
                            store_.Query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND "
                                         "name = 'schema_migrations'"));
    if (!tables.empty()) return absl::OkStatus();
    return store_.Transaction([&] {
      return store_.Execute(
          "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
          "  module TEXT NOT NULL,\n"
          "  version INTEGER NOT NULL,\n"
          "  name TEXT NOT NULL,\n"
          "  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n"
          "  PRIMARY KEY (module, version)\n"
          ")");
    });
  }
  StatusOr<int> Version(std::string_view module) override { return store_.SchemaVersion(module); }
  Status Exclusive(const std::function<Status()>& fn) override { return store_.Transaction(fn); }
  Status ExecuteScript(std::string_view sql) override { return store_.Execute(sql); }
  Status Record(std::string_view module, const Migration& migration) override {
    return store_
        .Query(
            "INSERT INTO schema_migrations (module, version, name, applied_at) "
            "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            {std::string(module), int64_t{migration.version}, migration.name})
        .status();
  }

 private:
  MetadataStore& store_;
};

}  // namespace

Status MetadataStore::Migrate(std::string_view module, const std::vector<Migration>& migrations) {
  std::lock_guard lock(mu_);
  SqliteMigrationTarget target(*this);
  return internal::ApplyMigrations(target, module, migrations);
}

StatusOr<bool> MetadataStore::HasTable(std::string_view table) {
  MLCORE_ASSIGN_OR_RETURN(std::vector<Row> rows,
                          Query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                                {std::string(table)}));
  return !rows.empty();
}

StatusOr<int> MetadataStore::SchemaVersion(std::string_view module) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(std::vector<Row> tables,
                          Query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND "
                                "name = 'schema_migrations'"));
  if (tables.empty()) return 0;
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      Query("SELECT coalesce(max(version), 0) FROM schema_migrations WHERE module = ?1",
            {std::string(module)}));
  return static_cast<int>(std::get<int64_t>(rows.at(0).at(0)));
}

Status MetadataStore::Verify() {
  MLCORE_ASSIGN_OR_RETURN(std::vector<Row> rows, Query("PRAGMA integrity_check"));
  std::vector<std::string> problems;
  for (const Row& row : rows) {
    const auto* text = row.empty() ? nullptr : std::get_if<std::string>(&row.front());
    if (text != nullptr && *text == "ok") continue;
    problems.push_back(text != nullptr ? *text : "an unreadable integrity report");
  }
  if (problems.empty()) return absl::OkStatus();
  constexpr size_t kShown = 5;
  size_t total = problems.size();
  if (total > kShown) problems.resize(kShown);
  return absl::DataLossError(
      absl::StrCat("metadata store ", path_, " failed SQLite's integrity check with ", total,
                   " problem(s): ", absl::StrJoin(problems, "; "), total > kShown ? "; ..." : "",
                   "; ", internal::DamagedStoreRemedy(path_)));
}

StatusOr<std::string> MetadataStore::GetProperty(std::string_view key) {
  MLCORE_ASSIGN_OR_RETURN(std::vector<Row> rows,
                          Query("SELECT value FROM properties WHERE key = ?1", {std::string(key)}));
  if (rows.empty()) {
    return absl::NotFoundError(
        absl::StrCat("metadata store ", path_, " has no property '", AV(key), "'"));
  }
  return std::get<std::string>(rows.front().front());
}

Status MetadataStore::SetProperty(std::string_view key, std::string_view value) {
  return Query(
             "INSERT INTO properties (key, value) VALUES (?1, ?2) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             {std::string(key), std::string(value)})
      .status();
}

int64_t MetadataStore::last_insert_rowid() {
  std::lock_guard lock(mu_);
  return sqlite3_last_insert_rowid(db_);
}

int64_t MetadataStore::changes() {
  std::lock_guard lock(mu_);
  return sqlite3_changes64(db_);
}

}  // namespace mlcore::store

// PostgresStore: the pool, the retry loop (reconnect with backoff, rerun on serialization
// failures) and the store's own migrations on PostgreSQL.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mlcore/core/logging.h"
#include "mlcore/store/postgres.h"
#include "store/migrations.h"
#include "store/postgres_connection.h"

namespace mlcore::store {

using internal::PgConnection;

class PostgresStore::Impl {
 public:
  Impl(PostgresOptions options, PostgresUrl url)
      : options_(std::move(options)), url_(std::move(url)), description_(url_.Redacted()) {}

  // Runs body on a pooled connection; on a lost connection reconnects (backoff, up to the
  // reconnect timeout) and runs it again; on Aborted (serialization, deadlock) runs it again.
  Status Run(const std::function<Status(PgConnection&)>& body) {
    const absl::Time give_up = absl::Now() + options_.reconnect_timeout;
    absl::Duration backoff = absl::Milliseconds(50);
    int aborted = 0;
    Status last;
    for (;;) {
      StatusOr<std::unique_ptr<PgConnection>> conn = Acquire();
      Status s = conn.ok() ? body(**conn) : conn.status();
      if (conn.ok()) Release(std::move(*conn));
      if (s.ok()) return s;
      if (absl::IsUnavailable(s)) {
        DropIdle();  // the server restarted: every idle connection is as dead as this one
        if (absl::Now() + backoff > give_up) {
          return absl::UnavailableError(
              absl::StrCat("PostgreSQL store ", description_, " at ", url_.Endpoint(),
                           ": lost the connection and could not reconnect within ",
                           absl::FormatDuration(options_.reconnect_timeout), ": ", s.message()));
        }
        if (last.ok()) {
          MLCORE_LOG(Warning) << s.message() << "; reconnecting";
        }
        last = s;
        Sleep(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(2));
        continue;
      }
      if (absl::IsAborted(s) && ++aborted < options_.max_transaction_attempts) {
        Sleep(absl::Milliseconds(std::min(1 << std::min(aborted, 8), 200)));
        continue;
      }
      return s;
    }
  }

  StatusOr<std::unique_ptr<PgConnection>> Acquire() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
      ++open_;
    }
    StatusOr<std::unique_ptr<PgConnection>> c = Connect();
    if (!c.ok()) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
    }
    return c;
  }

  StatusOr<std::unique_ptr<PgConnection>> Connect() {
    connections_opened_.fetch_add(1);
    return PgConnection::Connect(url_, options_, description_);
  }

  void Release(std::unique_ptr<PgConnection> c) {
    std::lock_guard lock(mu_);
    if (c->broken()) {
      --open_;
    } else {
      idle_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

  void DropIdle() {
    std::vector<std::unique_ptr<PgConnection>> dead;
    std::lock_guard lock(mu_);
    open_ -= static_cast<int>(idle_.size());
    dead.swap(idle_);
    cv_.notify_all();
  }

  static void Sleep(absl::Duration d) {
    thread_local std::minstd_rand rng(std::random_device{}());
    int64_t us = std::max<int64_t>(absl::ToInt64Microseconds(d), 2);
    std::uniform_int_distribution<int64_t> dist(us / 2, us);
    std::this_thread::sleep_for(std::chrono::microseconds(dist(rng)));
  }

  PostgresOptions options_;
  PostgresUrl url_;
  std::string description_;
  std::atomic<int64_t> connections_opened_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  int open_ = 0;  // idle and lent
};

namespace {

// Reads an mlcore option from the URL's parameters (removing it there, so libpq never sees it):
// a number of milliseconds or an absl duration ("30s", "1m").
Status TakeDuration(PostgresUrl& url, const std::string& key, absl::Duration* out) {
  auto it = url.params.find(key);
  if (it == url.params.end()) return absl::OkStatus();
  int64_t ms = 0;
  if (absl::SimpleAtoi(it->second, &ms)) {
    *out = absl::Milliseconds(ms);
  } else if (!absl::ParseDuration(it->second, out)) {
    return absl::InvalidArgumentError(absl::StrCat("storage URL ", url.Redacted(), ": ", key, "='",
                                                   it->second,
                                                   "' is not milliseconds or a duration (30s)"));
  }
  url.params.erase(it);
  return absl::OkStatus();
}

// The shared migration steps (store/migrations.h) on PostgreSQL: a transaction-scoped advisory
// lock excludes other migrating processes, and DDL is transactional, so a failed migration
// leaves nothing behind.
class PgMigrationTarget : public internal::MigrationTarget {
 public:
  PgMigrationTarget(PostgresStore& store, const std::string& description)
      : store_(store), name_(absl::StrCat("PostgreSQL store ", description)) {}
  std::string Name() const override { return name_; }
  Status EnsureTable() override {
    return store_.Transaction([](PostgresSession& s) -> Status {
      MLCORE_RETURN_IF_ERROR(s.Query("SELECT pg_advisory_xact_lock(7433001)").status());
      return s.Execute(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  module TEXT NOT NULL,"
          "  version INTEGER NOT NULL,"
          "  name TEXT NOT NULL,"
          "  applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
          "  PRIMARY KEY (module, version))");
    });
  }
  StatusOr<int> Version(std::string_view module) override {
    const std::string sql =
        "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations WHERE module = $1";
    StatusOr<std::vector<Row>> rows = session_ != nullptr
                                          ? session_->Query(sql, {std::string(module)})
                                          : store_.Query(sql, {std::string(module)});
    if (!rows.ok()) return rows.status();
    return static_cast<int>(std::get<int64_t>(rows->at(0).at(0)));
  }
  Status Exclusive(const std::function<Status()>& fn) override {
    return store_.Transaction([&](PostgresSession& s) -> Status {
      session_ = &s;
      Status st = s.Query("SELECT pg_advisory_xact_lock(7433001)").status();
      if (st.ok()) st = fn();
      session_ = nullptr;
      return st;
    });
  }
  Status ExecuteScript(std::string_view sql) override { return session_->Execute(sql); }
  Status Record(std::string_view module, const Migration& migration) override {
    return session_
        ->Query("INSERT INTO schema_migrations (module, version, name) VALUES ($1, $2, $3)",
                {std::string(module), int64_t{migration.version}, migration.name})
        .status();
  }

 private:
  PostgresStore& store_;
  std::string name_;
  PostgresSession* session_ = nullptr;
};

}  // namespace

StatusOr<std::shared_ptr<PostgresStore>> PostgresStore::Open(const PostgresOptions& given) {
  MLCORE_ASSIGN_OR_RETURN(PostgresUrl url, ParsePostgresUrl(given.url));
  PostgresOptions options = given;
  MLCORE_RETURN_IF_ERROR(TakeDuration(url, "statement_timeout", &options.statement_timeout));
  MLCORE_RETURN_IF_ERROR(TakeDuration(url, "lock_timeout", &options.lock_timeout));
  MLCORE_RETURN_IF_ERROR(TakeDuration(url, "reconnect_timeout", &options.reconnect_timeout));
  if (auto it = url.params.find("pool_size"); it != url.params.end()) {
    if (!absl::SimpleAtoi(it->second, &options.pool_size) || options.pool_size < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "storage URL ", url.Redacted(), ": pool_size='", it->second, "' is not a count >= 1"));
    }
    url.params.erase(it);
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("PostgreSQL store ", url.Redacted(), ": pool_size must be at least 1"));
  }
  auto impl = std::make_unique<Impl>(options, url);
  // The first connection is tried once: at Open a failure is a configuration error (a wrong
  // password, host or port) that retrying would only hide.
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> first, impl->Acquire());
  impl->Release(std::move(first));
  std::shared_ptr<PostgresStore> store(new PostgresStore(std::move(impl)));
  MLCORE_RETURN_IF_ERROR(store->Migrate(internal::kCoreModule, PostgresCoreMigrations()));
  return store;
}

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStore::~PostgresStore() = default;

StatusOr<std::vector<Row>> PostgresStore::Query(std::string_view sql,
                                                const std::vector<Value>& params) {
  std::vector<Row> rows;
  MLCORE_RETURN_IF_ERROR(impl_->Run([&](PgConnection& c) -> Status {
    MLCORE_ASSIGN_OR_RETURN(rows, c.Query(sql, params));
    return absl::OkStatus();
  }));
  return rows;
}

Status PostgresStore::Execute(std::string_view sql) {
  return impl_->Run([&](PgConnection& c) { return c.Execute(sql); });
}

Status PostgresStore::Transaction(const std::function<Status(PostgresSession&)>& fn) {
  return impl_->Run([&](PgConnection& c) -> Status {
    MLCORE_RETURN_IF_ERROR(c.Execute("BEGIN"));
    Status s = fn(c);
    if (s.ok()) s = c.Execute("COMMIT");
    if (!s.ok() && !c.broken()) (void)c.Execute("ROLLBACK");
    return s;
  });
}

Status PostgresStore::Migrate(std::string_view module, const std::vector<Migration>& migrations) {
  PgMigrationTarget target(*this, impl_->description_);
  return internal::ApplyMigrations(target, module, migrations);
}

StatusOr<int> PostgresStore::SchemaVersion(std::string_view module) {
  PgMigrationTarget target(*this, impl_->description_);
  MLCORE_RETURN_IF_ERROR(target.EnsureTable());
  return target.Version(module);
}

const std::string& PostgresStore::description() const { return impl_->description_; }
const PostgresOptions& PostgresStore::options() const { return impl_->options_; }
int64_t PostgresStore::connections_opened() const { return impl_->connections_opened_.load(); }

const std::vector<Migration>& PostgresCoreMigrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1, "create_properties",
       "CREATE TABLE properties (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"},
      {2, "create_artifacts",
       "CREATE TABLE artifacts ("
       "  sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),"
       "  size BIGINT NOT NULL CHECK (size >= 0),"
       "  uri TEXT NOT NULL,"
       "  media_type TEXT NOT NULL DEFAULT 'application/octet-stream',"
       "  created_at TEXT NOT NULL"
       "    DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'));"
       "CREATE INDEX artifacts_by_created_at ON artifacts (created_at);"},
  };
  return *migrations;
}

}  // namespace mlcore::store

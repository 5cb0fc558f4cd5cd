// The store on a PostgreSQL server (libpq), for studies, runs and models shared by many machines.
// A PostgresStore is a pool of connections to one database, named by a URL of the form
// SQLAlchemy and Optuna use:
//
//   postgresql://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=verify-full&pool_size=8
//
// (also postgres://; host and port optional; a host starting with '/' or %2F is a Unix socket
// folder). Query parameters libpq knows (sslmode, sslrootcert, sslcert, sslkey, connect_timeout,
// application_name, options, target_session_attrs...) pass through to it; the ones below are
// mlcore's own and override PostgresOptions. The password never appears in a log line or an
// error message: they name the store by its redacted URL (postgresql://user:***@host:port/db).
//
// Connection handling: a lost connection (the server restarted, a proxy dropped it) is replaced
// with exponential backoff for up to `reconnect_timeout` and the interrupted statement or
// transaction runs again; a transaction that fails with a serialization failure or a deadlock
// is retried likewise. The first connection at Open is tried once, so a wrong password or an
// unreachable host is a prompt, clear error naming the host, never a hang. See docs/postgres.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/sql_database.h"
#include "mlcore/store/statement.h"

namespace mlcore::store {

// A parsed postgresql:// URL. Percent-escapes in user, password, host, database and parameter
// values are decoded.
struct PostgresUrl {
  std::string user;
  std::string password;
  std::string host;  // empty: libpq's default (the local Unix socket)
  int port = 0;      // 0: libpq's default (5432)
  std::string database;
  // Query parameters not consumed as PostgresOptions, passed to libpq as they are.
  std::map<std::string, std::string> params;

  // The URL with the password replaced by "***": the form every message uses.
  std::string Redacted() const;
  // "host:port" (or the socket folder) for messages.
  std::string Endpoint() const;
};

// True for "postgresql://..." and "postgres://...".
bool IsPostgresUrl(std::string_view url);
// InvalidArgument (with the URL redacted) for a malformed URL or a bad port.
StatusOr<PostgresUrl> ParsePostgresUrl(std::string_view url);
// `text` with the password of any URL in it (user:password@) replaced by "***"; other text
// unchanged.
std::string RedactPostgresUrl(std::string_view text);

struct PostgresOptions {
  // postgresql://... (see above). Required.
  std::string url;
  // Connections kept open at most; callers beyond it wait for one. Default 4: a worker process
  // uses one at a time, plus one for its heartbeats. URL parameter: pool_size.
  int pool_size = 4;
  // Per connection attempt (libpq's connect_timeout, which has no limit by default). URL
  // parameter: connect_timeout (whole seconds, libpq's own).
  absl::Duration connect_timeout = absl::Seconds(10);
  // The server cancels a statement running longer (statement_timeout): DeadlineExceeded. 0: no
  // limit. URL parameter: statement_timeout (milliseconds, or with a unit: "30s").
  absl::Duration statement_timeout = absl::Seconds(60);
  // How long a statement waits for a row or table lock (lock_timeout): DeadlineExceeded. URL
  // parameter: lock_timeout.
  absl::Duration lock_timeout = absl::Seconds(30);
  // After a connection that worked is lost, how long to keep reconnecting (backoff from 50 ms to
  // 2 s) before the call fails with Unavailable. Covers a server restart or a fail-over. URL
  // parameter: reconnect_timeout.
  absl::Duration reconnect_timeout = absl::Seconds(60);
  // Attempts of a transaction failing with a serialization failure or deadlock. Default 20.
  int max_transaction_attempts = 20;
};

// The connection a Transaction runs on. Valid only inside the transaction's function.
class PostgresSession {
 public:
  virtual ~PostgresSession() = default;
  // Runs one statement with parameters $1..$N and returns every row. Values convert both ways:
  // NULL, int64 (int2/4/8, bool as 0/1), double (float4/8, numeric), text, Blob (bytea).
  virtual StatusOr<std::vector<Row>> Query(std::string_view sql,
                                           const std::vector<Value>& params = {}) = 0;
  // Runs one or more statements without parameters (DDL).
  virtual Status Execute(std::string_view sql) = 0;
};

class PostgresStore {
 public:
  // Connects once (failing at once, naming the host, when that fails) and applies the store's
  // own migrations. Errors: InvalidArgument for a bad URL, Unauthenticated for a wrong password,
  // Unavailable for an unreachable server, NotFound for a missing database.
  static StatusOr<std::shared_ptr<PostgresStore>> Open(const PostgresOptions& options);

  ~PostgresStore();
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // One statement in its own (implicit) transaction, run again on a new connection when the
  // connection was lost before a result came back.
  StatusOr<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params = {});
  Status Execute(std::string_view sql);

  // Runs fn between BEGIN and COMMIT on one pooled connection; rolls back and returns fn's error
  // otherwise. On a serialization failure, a deadlock or a lost connection the whole transaction
  // (fn included) runs again, so fn must only touch the database and its own locals.
  Status Transaction(const std::function<Status(PostgresSession&)>& fn);

  // The per-module migration mechanism of MetadataStore::Migrate, on this database: applies each
  // migration newer than the recorded one (table schema_migrations), exactly once even when many
  // processes open the store at once (an advisory lock serializes them).
  Status Migrate(std::string_view module, const std::vector<Migration>& migrations);
  StatusOr<int> SchemaVersion(std::string_view module);

  // The redacted URL.
  const std::string& description() const;
  const PostgresOptions& options() const;

  // Connections opened since Open (a reconnect adds one): for tests and diagnostics.
  int64_t connections_opened() const;

  class Impl;

 private:
  explicit PostgresStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A PostgresStore behind the SqlDatabase interface shared with the SQLite store, for the modules
// that write their SQL once (pipelines, schedules, the model registry). `?N` parameters become
// `$N`; the calls of a thread inside Transaction run on that transaction's connection (the
// store's own retry loop may run the transaction's function again, see PostgresStore).
class PostgresDatabase : public SqlDatabase {
 public:
  explicit PostgresDatabase(std::shared_ptr<PostgresStore> store) : store_(std::move(store)) {}
  static StatusOr<std::shared_ptr<PostgresDatabase>> Open(const PostgresOptions& options);

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }
  std::string description() const override { return store_->description(); }
  StatusOr<std::vector<Row>> Query(std::string_view sql,
                                   const std::vector<Value>& params = {}) override;
  Status Execute(std::string_view sql) override;
  Status Transaction(const std::function<Status()>& fn) override;
  Status Migrate(std::string_view module, const std::vector<Migration>& migrations) override;
  StatusOr<bool> HasTable(std::string_view table) override;

  PostgresStore& store() { return *store_; }

 private:
  std::shared_ptr<PostgresStore> store_;
};

// `sql` with SQLite's parameters (?NNN, and bare ? numbered in order) written as $NNN; text in
// quotes ('...', "...") is left as it is.
std::string PostgresParameters(std::string_view sql);

// The migrations of the store's own tables on PostgreSQL ("store" module): `properties` and
// `artifacts`, as CoreMigrations() on SQLite.
const std::vector<Migration>& PostgresCoreMigrations();

}  // namespace mlcore::store

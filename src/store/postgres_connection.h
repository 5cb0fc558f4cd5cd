// Internal: one libpq connection (PGconn) with its prepared statements, and the mapping of
// server errors onto Status codes that PostgresStore's retry loop reads:
//   Unavailable       the connection is gone (server restart, network): reconnect and rerun
//   Aborted           serialization failure or deadlock (SQLSTATE 40001, 40P01): rerun
//   DeadlineExceeded  statement_timeout or lock_timeout fired (57014, 55P03)
//   AlreadyExists     unique violation (23505)
//   Unauthenticated   a wrong password or a refused role (28P01, 28000)
//   NotFound          the database does not exist (3D000)
// Every message names the store by its redacted URL.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/store/postgres.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace mlcore::store::internal {

class PgConnection : public PostgresSession {
 public:
  // Connects with `url` and the session settings of `options` (statement and lock timeouts).
  static StatusOr<std::unique_ptr<PgConnection>> Connect(const PostgresUrl& url,
                                                         const PostgresOptions& options,
                                                         const std::string& description);
  ~PgConnection() override;

  StatusOr<std::vector<Row>> Query(std::string_view sql,
                                   const std::vector<Value>& params = {}) override;
  Status Execute(std::string_view sql) override;

  // True once the server or the network dropped the connection.
  bool broken() const;

 private:
  PgConnection(PGconn* conn, const std::string& description)
      : conn_(conn), description_(description) {}

  // The Status for a failed result (or a null one), naming the store and the statement.
  Status ResultError(PGresult* result, std::string_view sql) const;
  StatusOr<std::vector<Row>> ReadRows(PGresult* result) const;

  PGconn* conn_;
  std::string description_;
  // SQL text -> name of the statement prepared for it on this connection.
  std::map<std::string, std::string, std::less<>> prepared_;
};

// Status code for SQLSTATE `state` (see above); Internal for the rest.
absl::StatusCode CodeForSqlState(std::string_view state);

}  // namespace mlcore::store::internal

// Table definitions written once and rendered for SQLite or PostgreSQL, so a module's schema
// lives in one place. In the text:
//   {ID}    INTEGER PRIMARY KEY (SQLite's rowid alias) | BIGSERIAL PRIMARY KEY
//   {INT}   INTEGER | BIGINT
//   {REAL}  REAL | DOUBLE PRECISION
//   {ROWID} nothing | " rowid BIGSERIAL," (a column of its own for tables that SQLite orders by
//           its implicit rowid, so the same ORDER BY rowid runs on both)
//   {IF_NOT_EXISTS}  nothing | "IF NOT EXISTS" (ADD COLUMN of a migration that a database
//           created by an earlier PostgreSQL list already has)
//   a line starting "--postgres " is that line's rest on PostgreSQL only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mlcore/store/metadata_store.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::store {

std::string RenderDdl(std::string_view ddl, SqlDialect dialect);
// `migrations` with each step's SQL rendered for `dialect`.
std::vector<Migration> RenderMigrations(const std::vector<Migration>& migrations,
                                        SqlDialect dialect);

}  // namespace mlcore::store

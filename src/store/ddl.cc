// Rendering a module's table definitions for SQLite or PostgreSQL (see mlcore/store/ddl.h).
#include "mlcore/store/ddl.h"

#include <utility>

#include "absl/strings/str_replace.h"

namespace mlcore::store {

std::string RenderDdl(std::string_view ddl, SqlDialect dialect) {
  const bool pg = dialect == SqlDialect::kPostgres;
  constexpr std::string_view kPostgresOnly = "--postgres ";
  std::string lines;
  size_t at = 0;
  while (at < ddl.size()) {
    size_t end = ddl.find('\n', at);
    if (end == std::string_view::npos) end = ddl.size() - 1;
    std::string_view line = ddl.substr(at, end + 1 - at);  // with its newline
    at = end + 1;
    if (line.substr(0, kPostgresOnly.size()) == kPostgresOnly) {
      if (!pg) continue;
      line.remove_prefix(kPostgresOnly.size());
    }
    lines.append(line);
  }
  return absl::StrReplaceAll(lines, {{"{ID}", pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY"},
                                     {"{INT}", pg ? "BIGINT" : "INTEGER"},
                                     {"{REAL}", pg ? "DOUBLE PRECISION" : "REAL"},
                                     {"{ROWID}", pg ? " rowid BIGSERIAL," : ""},
                                     {"{IF_NOT_EXISTS}", pg ? "IF NOT EXISTS " : ""}});
}

std::vector<Migration> RenderMigrations(const std::vector<Migration>& migrations,
                                        SqlDialect dialect) {
  std::vector<Migration> out = migrations;
  for (Migration& m : out) m.sql = RenderDdl(m.sql, dialect);
  return out;
}

}  // namespace mlcore::store

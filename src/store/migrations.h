// The process-wide registry of module migrations that MetadataStore::Open applies, and the checks
// a migration list must pass before it may touch a store.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/store/metadata_store.h"

namespace mlcore::store::internal {

// The module name of the store's own tables.
inline constexpr char kCoreModule[] = "store";

// InvalidArgument unless `module` is a valid name and versions run 1, 2, 3... with names and SQL.
Status ValidateMigrations(std::string_view module, const std::vector<Migration>& migrations);

// A copy of the registered modules and their migrations, by module name.
std::map<std::string, std::vector<Migration>> RegisteredMigrations();

// Where migrations are applied: the SQLite metadata store or a PostgreSQL database. Each backend
// says how to keep the schema_migrations table and how to exclude other migrators; the order of
// steps (ApplyMigrations) is shared, so both backends apply each migration exactly once.
class MigrationTarget {
 public:
  virtual ~MigrationTarget() = default;
  // For messages: "metadata store /path/mlcore.db", "PostgreSQL store postgresql://u:***@h/db".
  virtual std::string Name() const = 0;
  // Creates schema_migrations (module, version, name, applied_at) when it is missing.
  virtual Status EnsureTable() = 0;
  // The highest applied version of `module` (0 for none); inside Exclusive, on its transaction.
  virtual StatusOr<int> Version(std::string_view module) = 0;
  // Runs fn in one transaction that other migrators of the same database wait for.
  virtual Status Exclusive(const std::function<Status()>& fn) = 0;
  // Inside Exclusive: runs a migration's SQL, then records it as applied.
  virtual Status ExecuteScript(std::string_view sql) = 0;
  virtual Status Record(std::string_view module, const Migration& migration) = 0;
};

// Validates `migrations` and applies each one newer than the recorded version, each in its own
// Exclusive transaction (rechecking the version there, as another process may have applied it
// meanwhile). FailedPrecondition when the target records a version newer than the last known.
Status ApplyMigrations(MigrationTarget& target, std::string_view module,
                       const std::vector<Migration>& migrations);

}  // namespace mlcore::store::internal

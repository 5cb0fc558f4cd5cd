// Choosing a store backend by its location: a postgresql:// URL or a SQLite file.
#include "mlcore/store/sql_database.h"

#include <cstdlib>

#include "mlcore/store/metadata_store.h"
#include "mlcore/store/postgres.h"

namespace mlcore::store {

bool IsDatabaseUrl(std::string_view location) { return IsPostgresUrl(location); }

std::string StoreLocation(std::string_view home) {
  const char* env = std::getenv("MLCORE_STORE");
  if (env != nullptr && env[0] != '\0') return env;
  if (IsDatabaseUrl(home)) return std::string(home);
  return std::string(home) + "/mlcore.db";
}

StatusOr<std::string> FilesHome(std::string_view home) {
  if (IsDatabaseUrl(home)) return DefaultHome();
  return std::string(home);
}

StatusOr<std::shared_ptr<SqlDatabase>> OpenSqlDatabase(std::string_view location,
                                                       const SqlDatabaseOptions& options) {
  if (IsDatabaseUrl(location)) {
    PostgresOptions po;
    po.url = std::string(location);
    po.lock_timeout = options.busy_timeout;
    MLCORE_ASSIGN_OR_RETURN(auto db, PostgresDatabase::Open(po));
    return std::static_pointer_cast<SqlDatabase>(db);
  }
  MetadataStoreOptions mo;
  mo.path = std::string(location);
  mo.busy_timeout = options.busy_timeout;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> db, MetadataStore::Open(mo));
  return std::shared_ptr<SqlDatabase>(std::move(db));
}

}  // namespace mlcore::store

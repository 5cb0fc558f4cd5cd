// Choosing a store backend by its location: a postgresql:// URL or a SQLite file.
#include "mlcore/store/sql_database.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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
  mo.create_if_missing = options.create_if_missing;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> db, MetadataStore::Open(mo));
  return std::shared_ptr<SqlDatabase>(std::move(db));
}

StatusOr<HomeStore> OpenHomeStore(std::string_view home, const SqlDatabaseOptions& options) {
  HomeStore out;
  std::string dir(home);
  if (dir.empty()) {
    MLCORE_ASSIGN_OR_RETURN(dir, DefaultHome());
  }
  if (options.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("the busy timeout must not be negative, got ",
                                                   absl::FormatDuration(options.busy_timeout)));
  }
  out.location = StoreLocation(dir);
  MLCORE_ASSIGN_OR_RETURN(out.files_home, FilesHome(dir));
  MLCORE_ASSIGN_OR_RETURN(out.db, OpenSqlDatabase(out.location, options));
  return out;
}

Status MigrateModule(SqlDatabase& db, std::string_view module, const std::vector<Migration>& sqlite,
                     const std::vector<Migration>& postgres) {
  return db.Migrate(module, db.dialect() == SqlDialect::kPostgres ? postgres : sqlite);
}

}  // namespace mlcore::store

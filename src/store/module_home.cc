#include "store/module_home.h"

#include <utility>

namespace mlcore::store {

StatusOr<ModuleHome> OpenModuleHome(std::string_view home, const ModuleHomeOptions& options) {
  SqlDatabaseOptions mo;
  mo.busy_timeout = options.busy_timeout;
  MLCORE_ASSIGN_OR_RETURN(HomeStore opened, OpenHomeStore(home, mo));
  MLCORE_RETURN_IF_ERROR(
      MigrateModule(*opened.db, options.module, *options.sqlite, *options.postgres));
  ArtifactStoreOptions ao;
  ao.root = opened.files_home + "/artifacts";
  ao.sync = options.sync_artifacts;
  ao.remote = options.remote_artifacts;
  MLCORE_ASSIGN_OR_RETURN(auto artifacts, ArtifactStore::Open(ao));
  return ModuleHome{std::move(opened.files_home), std::move(opened.db), std::move(artifacts)};
}

}  // namespace mlcore::store

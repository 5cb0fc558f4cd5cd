// A module's part of a home: its records in the home's store (migrated for the module) and its
// files' artifact store under <files home>/artifacts. Pipelines' Client and the model registry
// open theirs here, so both follow MLCORE_STORE and a postgresql:// home the same way.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::store {

struct ModuleHomeOptions {
  std::string module;                              // the migrations' module name
  const std::vector<Migration>* sqlite = nullptr;  // its migrations per dialect
  const std::vector<Migration>* postgres = nullptr;
  absl::Duration busy_timeout = absl::Seconds(30);
  bool sync_artifacts = true;
  std::string remote_artifacts;  // ArtifactStoreOptions::remote
};

struct ModuleHome {
  std::string files_home;
  std::shared_ptr<SqlDatabase> db;
  std::unique_ptr<ArtifactStore> artifacts;
};

// The options of a module whose own options name busy_timeout and sync_artifacts as these do.
template <typename Options>
ModuleHomeOptions ModuleHomeOptionsOf(const Options& o, std::string module,
                                      const std::vector<Migration>& sqlite,
                                      const std::vector<Migration>& postgres) {
  ModuleHomeOptions m;
  m.module = std::move(module);
  m.sqlite = &sqlite;
  m.postgres = &postgres;
  m.busy_timeout = o.busy_timeout;
  m.sync_artifacts = o.sync_artifacts;
  return m;
}

StatusOr<ModuleHome> OpenModuleHome(std::string_view home, const ModuleHomeOptions& options);

}  // namespace mlcore::store

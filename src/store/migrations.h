// The process-wide registry of module migrations that MetadataStore::Open applies, and the checks
// a migration list must pass before it may touch a store.
#pragma once

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

}  // namespace mlcore::store::internal

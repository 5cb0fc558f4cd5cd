// Conversions between the registry's rows and its records, shared by its files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/registry/model_registry.h"
#include "mlcore/store/statement.h"
#include "store/row_values.h"

namespace mlcore::registry::internal {

double NowSeconds();
// The store's readers of row values (store/row_values.h), shared with the pipeline client.
using store::internal::OptionalTime;
using store::internal::ParseJsonOr;
using store::internal::ValueInt;
using store::internal::ValueText;
Lineage LineageFromJson(const Json& j);

// The columns QueryVersions selects, in the order VersionFromRow reads them.
extern const char kVersionColumns[];
ModelVersion VersionFromRow(const store::Row& row);

}  // namespace mlcore::registry::internal

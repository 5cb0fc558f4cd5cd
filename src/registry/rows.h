// Conversions between the registry's rows and its records, shared by its files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/registry/model_registry.h"
#include "mlcore/store/statement.h"

namespace mlcore::registry::internal {

double NowSeconds();
std::string Text(const store::Value& v);
int64_t Int(const store::Value& v);
absl::Time Time(const store::Value& v);
Json JsonOr(const store::Value& v, Json fallback);
Lineage LineageFromJson(const Json& j);

// The columns QueryVersions selects, in the order VersionFromRow reads them.
extern const char kVersionColumns[];
ModelVersion VersionFromRow(const store::Row& row);

}  // namespace mlcore::registry::internal

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
// The store's readers of row values (store/row_values.h, shared with the pipeline client),
// under the registry's names; a NULL time reads as InfinitePast, a NULL JSON as `fallback`.
inline constexpr auto& Text = store::internal::ValueText;
inline constexpr auto& Int = store::internal::ValueInt;
inline absl::Time Time(const store::Value& v) {
  return store::internal::OptionalTime(v).value_or(absl::InfinitePast());
}
inline Json JsonOr(const store::Value& v, Json fallback) {
  return store::internal::ParseJsonOr(Text(v), std::move(fallback));
}
Lineage LineageFromJson(const Json& j);

// The columns QueryVersions selects, in the order VersionFromRow reads them.
extern const char kVersionColumns[];
ModelVersion VersionFromRow(const store::Row& row);

}  // namespace mlcore::registry::internal

// Reading a metadata store row's values into records, shared by the pipeline client and the
// model registry (and any module that keeps its records in the store). Each reader accepts the
// types a column's value may come back as from SQLite or PostgreSQL and gives a fixed fallback
// for NULL, so a record is built from a row without a status per column.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "mlcore/core/json.h"
#include "mlcore/store/statement.h"

namespace mlcore::store::internal {

// Text as is, an integer in decimal; "" for NULL (and for a double: no text column holds one).
std::string ValueText(const Value& v);
// An integer, a double truncated; 0 for NULL.
int64_t ValueInt(const Value& v);
// Seconds since the Unix epoch (REAL, or INTEGER); nullopt for NULL.
std::optional<absl::Time> OptionalTime(const Value& v);
// `text` parsed as JSON, or `fallback` where it is not JSON (an empty or damaged column).
Json ParseJsonOr(const std::string& text, Json fallback);

}  // namespace mlcore::store::internal

// Conversions between the public mlcore::Json and nlohmann::json, for the implementation only:
// modules that parse or build JSON with nlohmann (serve's codecs, the stores' rows) hand values to
// the public API through these. Never include this from include/.
#pragma once

#include "mlcore/core/json.h"
#include "nlohmann/json.hpp"

namespace mlcore {

nlohmann::json ToNlohmann(const Json& value);
Json FromNlohmann(const nlohmann::json& value);

}  // namespace mlcore

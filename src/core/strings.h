// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0),
// which does not convert from std::string_view. mlcore's API speaks std::string_view; this is
// the one bridge to Abseil's string functions.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace mlcore::internal {

inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace mlcore::internal

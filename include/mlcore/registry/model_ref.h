// How users name registered models: "digits" (its latest version), "digits/3" (version 3) and
// "digits@production" (whatever version the alias points at). The same strings are accepted by
// the registry, the `mlcore models` command and the server, so they are parsed in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore::registry {

// A parsed model reference: the name and at most one of a version or an alias.
struct ModelRef {
  std::string name;
  std::optional<int64_t> version;    // set for "name/3"
  std::optional<std::string> alias;  // set for "name@production"

  // Back to the string form it was parsed from.
  std::string ToString() const;
  bool operator==(const ModelRef&) const = default;
};

// Model names: 1 to 128 characters, letters, digits, '_', '-' and '.', starting with a letter or
// digit, never "." or ".." nor containing "..": they become path components (the server's
// /v2/models/<name> and the file-system repository) and must never leave a directory.
// InvalidArgument saying which rule was broken.
Status ValidateModelName(std::string_view name);

// Alias names: 1 to 64 characters, lowercase letters, digits, '_' and '-', starting with a
// letter (so an alias never reads as a version number).
Status ValidateAliasName(std::string_view alias);

// Parses "name", "name/<version>" or "name@<alias>". Versions are positive decimal integers.
// InvalidArgument naming the reference for anything else ("", "a/b/c", "m/0", "m@", "../x").
StatusOr<ModelRef> ParseModelRef(std::string_view text);

}  // namespace mlcore::registry

#include "mlcore/core/registry.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_join.h"

namespace mlcore::registry_internal {

Status UnknownName(std::string_view kind, std::string_view name,
                   const std::vector<std::string>& known) {
  return absl::InvalidArgumentError(std::string("unknown ").append(kind) + " '" +
                                    std::string(name) + "' (known: " + absl::StrJoin(known, ", ") +
                                    ")");
}

Status AlreadyRegistered(std::string_view kind, std::string_view name) {
  return absl::AlreadyExistsError(std::string("a ").append(kind) + " named '" + std::string(name) +
                                  "' is already registered");
}

void RegistrarFailed(const Status& status) {
  std::fprintf(stderr, "mlcore: registration at load time failed: %s\n",
               StatusText(status).c_str());
  std::abort();
}

}  // namespace mlcore::registry_internal

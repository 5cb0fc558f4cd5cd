#include <cstdlib>
#include <string>

#include "mlcore/store/metadata_store.h"

namespace mlcore::store {

StatusOr<std::string> DefaultHome() {
  const char* home = std::getenv("MLCORE_HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home);
  const char* user_home = std::getenv("HOME");
  if (user_home != nullptr && user_home[0] != '\0') return std::string(user_home) + "/.mlcore";
  return absl::FailedPreconditionError(
      "cannot tell where mlcore keeps its data: neither MLCORE_HOME nor HOME is set");
}

}  // namespace mlcore::store

#include "hpo/process_identity.h"

#include "core/process_identity.h"

namespace mlcore::hpo::internal {

std::string ThisProcessOwner() {
  return mlcore::internal::FormatOwner(mlcore::internal::ThisProcess());
}

bool OwnerAlive(const std::string& owner) {
  auto id = mlcore::internal::ParseOwner(owner);
  return id.has_value() && mlcore::internal::IsAlive(*id);
}

}  // namespace mlcore::hpo::internal

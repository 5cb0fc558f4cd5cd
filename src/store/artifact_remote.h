// How an ArtifactStore finds its remote: the option, else $MLCORE_ARTIFACTS.
#pragma once

#include <memory>
#include <string>

#include "mlcore/store/remote_artifacts.h"

namespace mlcore::store::internal {

// nullptr for "none" or when neither the option nor the environment names one.
StatusOr<std::shared_ptr<const RemoteArtifacts>> OpenRemote(const std::string& option);

}  // namespace mlcore::store::internal

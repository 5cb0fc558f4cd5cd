// The registry as the server's source of models: a serve::ModelResolver that turns "name",
// "name/3" or "name@production" into the version's number and its materialised directory, so
// ModelManager::AddRegistryModel serves registry models and follows alias moves on each poll.
#pragma once

#include <memory>

#include "mlcore/core/status.h"
#include "mlcore/registry/model_registry.h"
#include "mlcore/serve/model_resolver.h"

namespace mlcore::registry {

// Opens the registry at `options.home` once and resolves through it; the backend is the
// version's "backend" tag when it has one (else the server's default). Thread-safe.
StatusOr<std::shared_ptr<serve::ModelResolver>> MakeServeResolver(
    const ModelRegistryOptions& options = {});

}  // namespace mlcore::registry

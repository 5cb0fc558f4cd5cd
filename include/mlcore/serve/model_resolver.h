// The hook through which the server serves models of the model registry (helper module
// mlcore/registry): a reference `name`, `name/version` or `name@alias` is turned into a
// version and a checkpoint directory. The server asks again on every repository poll, so an
// alias that moves is followed: the new version is loaded and made ready before the old one is
// unloaded, and requests in flight finish on the version they started on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mlcore/core/status.h"

namespace mlcore::serve {

struct ResolvedModel {
  int64_t version = 0;  // the registry's version number (>= 1)
  std::string path;     // checkpoint directory of that version
  std::string backend;  // empty: "mlcore"
};

class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // NotFound for an unknown name, version or alias; InvalidArgument for a malformed reference.
  // Called from the poll thread and from LoadModel, possibly at once: must be thread-safe.
  virtual StatusOr<ResolvedModel> Resolve(const std::string& reference) = 0;
};

}  // namespace mlcore::serve

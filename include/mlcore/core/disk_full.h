// A full disk as a status: ResourceExhausted marked with a payload, so that the Python bindings
// raise OSError(ENOSPC) where other ResourceExhausted statuses (out of memory) are MemoryError,
// and callers can tell "free some space" from "use less memory".
#pragma once

#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore {

Status DiskFull(std::string_view message);
bool IsDiskFull(const Status& status);

}  // namespace mlcore

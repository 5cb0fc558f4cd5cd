// Internal helpers shared by the client (queries) and the executor (writes): time and JSON
// conversions, process identity for run ownership.
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "core/process_identity.h"
#include "mlcore/pipeline/component.h"
#include "mlcore/store/statement.h"
#include "store/row_values.h"

namespace mlcore::pipeline::internal {

double ToSeconds(absl::Time t);
// The store's readers of row values (store/row_values.h), shared with the model registry.
using store::internal::OptionalTime;
using store::internal::ParseJsonOr;
using store::internal::ValueInt;
using store::internal::ValueText;

// Who runs a pipeline: core's identity (host, pid and the pid's start time, so a recycled pid
// is not mistaken for the original owner), shared with HPO's trial owners.
using mlcore::internal::IsAlive;
using mlcore::internal::ProcessIdentity;
using mlcore::internal::ThisProcess;

// 32 random hex digits.
std::string NewRunId();

}  // namespace mlcore::pipeline::internal

// Gradient clipping by global norm: one scale for all gradients, so the update keeps its
// direction and only its length is bounded (what stabilises training after a bad batch).
#pragma once

#include "absl/types/span.h"
#include "mlcore/core/parameter.h"

namespace mlcore::optim {

// Scales every grad by max_norm / norm when the L2 norm over all of them exceeds max_norm.
// Returns the norm before clipping (inf or NaN when a gradient is not finite; then nothing is
// scaled). max_norm must be > 0.
StatusOr<double> ClipGradNorm(absl::Span<Parameter* const> params, double max_norm);

}  // namespace mlcore::optim

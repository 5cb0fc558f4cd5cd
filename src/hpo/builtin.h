// What the built-in samplers share. Each registers itself by name from its own file.
#pragma once

#include <cstdint>
#include <optional>

#include "mlcore/hpo/sampler.h"

namespace mlcore::hpo::internal {

// The seed to use when the options leave it empty: random per sampler object.
uint64_t ResolveSeed(const std::optional<uint64_t>& seed);
// A uniform draw of `distribution`'s internal value (log-uniform for log ranges).
double SampleUniform(const Distribution& distribution, uint64_t stream_seed);

}  // namespace mlcore::hpo::internal

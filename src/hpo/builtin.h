// Factories of the built-in samplers and pruners, registered by name in the registries.
#pragma once

#include <memory>

#include "mlcore/hpo/pruner.h"
#include "mlcore/hpo/sampler.h"

namespace mlcore::hpo::internal {

StatusOr<std::unique_ptr<Sampler>> NewRandomSampler(const SamplerOptions& options);
StatusOr<std::unique_ptr<Sampler>> NewGridSampler(const SamplerOptions& options);
StatusOr<std::unique_ptr<Sampler>> NewTpeSampler(const SamplerOptions& options);
StatusOr<std::unique_ptr<Sampler>> NewNsga2SamplerFromOptions(const SamplerOptions& options);
StatusOr<std::unique_ptr<Sampler>> NewGpSampler(const SamplerOptions& options);
StatusOr<std::unique_ptr<Sampler>> NewCmaEsSampler(const SamplerOptions& options);
StatusOr<std::unique_ptr<Sampler>> NewSobolSampler(const SamplerOptions& options);

StatusOr<std::unique_ptr<Pruner>> NewMedianPruner(const PrunerOptions& options);
StatusOr<std::unique_ptr<Pruner>> NewSuccessiveHalvingPruner(const PrunerOptions& options);
StatusOr<std::unique_ptr<Pruner>> NewHyperbandPruner(const PrunerOptions& options);

// The seed to use when the options leave it empty: random per sampler object.
uint64_t ResolveSeed(const std::optional<uint64_t>& seed);
// A uniform draw of `distribution`'s internal value (log-uniform for log ranges).
double SampleUniform(const Distribution& distribution, uint64_t stream_seed);

}  // namespace mlcore::hpo::internal

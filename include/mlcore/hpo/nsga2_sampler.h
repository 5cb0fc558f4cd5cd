// NSGA-II (Deb et al., 2002), the evolutionary sampler for multi-objective studies: each
// generation of `population_size` trials is bred from the best trials so far, ranked by
// non-dominated sorting and crowding distance, so the Pareto front both advances and spreads.
// Registered as "nsga2"; this header gives its options beyond the seed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "mlcore/hpo/sampler.h"

namespace mlcore::hpo {

struct Nsga2Options {
  // Seed of every random choice (see SamplerOptions::seed). Empty: a random seed.
  std::optional<uint64_t> seed;
  // Trials per generation. Trial number n belongs to generation n / population_size; the first
  // generation is uniform random, the next ones are bred from the best population_size trials
  // of the earlier generations. Larger keeps more diversity, smaller converges sooner. >= 2.
  int population_size = 50;
  // Chance that a child is a crossover of its two parents rather than a copy of the first.
  double crossover_prob = 0.9;
  // Per parameter, chance that a categorical value comes from the second parent (uniform
  // crossover).
  double swapping_prob = 0.5;
  // Per parameter, chance of a mutation (polynomial for numbers, a fresh uniform draw for
  // categories). Empty: 1 / number of parameters.
  std::optional<double> mutation_prob;
  // Distribution indices of SBX crossover and polynomial mutation: larger keeps children closer
  // to their parents.
  double eta_crossover = 20.0;
  double eta_mutation = 20.0;
};

// InvalidArgument naming the field for a population below 2 or a probability outside [0, 1].
StatusOr<std::unique_ptr<Sampler>> NewNsga2Sampler(const Nsga2Options& options = {});

}  // namespace mlcore::hpo

// Pareto dominance for multi-objective studies: which trials are optimal when no single value
// ranks them, and how crowded each optimal region is. Study::BestTrials and the NSGA-II sampler
// use these; they are public so user samplers rank trials the same way.
#pragma once

#include <vector>

#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

// True when `a` is no worse than `b` in every objective and strictly better in at least one,
// each objective read in its direction. Vectors of different sizes never dominate.
bool Dominates(const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<StudyDirection>& directions);

// Fast non-dominated sort (Deb et al., 2002): the indices of `points` split into fronts, front 0
// being the points no other point dominates, front 1 those only front 0 dominates, and so on.
// Within a front, indices are in increasing order. O(objectives * points^2).
std::vector<std::vector<int>> NonDominatedSort(const std::vector<std::vector<double>>& points,
                                               const std::vector<StudyDirection>& directions);

// The crowding distance of each point of `front` (indices into `points`), in front order: the
// sum over objectives of the normalized gap between its two neighbours; infinite for the
// extreme points of each objective (so the ends of a front are always kept).
std::vector<double> CrowdingDistance(const std::vector<std::vector<double>>& points,
                                     const std::vector<int>& front);

}  // namespace mlcore::hpo

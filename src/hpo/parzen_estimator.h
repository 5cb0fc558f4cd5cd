// The density model inside TPE: a weighted mixture of one kernel per observed trial plus a
// uniform-ish prior, over one or several parameters. Numeric parameters get truncated Gaussians
// in the sampler's space (log for log ranges, widened by half a step for grids; a grid point
// scores the kernel's mass over its cell, not the density at its centre); categorical ones get
// a point mass smoothed by prior_weight / (observations + 1) per choice, so the kernels sharpen
// as observations accumulate.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "mlcore/hpo/distribution.h"

namespace mlcore::hpo::internal {

// One parameter as the estimator sees it.
struct ParzenDim {
  explicit ParzenDim(const Distribution& distribution);
  // The internal value -> the estimator's space, and back (snapped onto the distribution).
  double Forward(double internal) const;
  double Backward(double y) const;

  const Distribution* distribution;
  bool categorical = false;
  int n_choices = 0;
  bool log = false;
  double low = 0, high = 0;  // bounds in the estimator's space
  // Half the grid step of int and stepped ranges (in the parameter's own space), 0 for
  // continuous ones: a grid point's density is the kernel's mass over its cell.
  double half_step = 0;
};

class ParzenEstimator {
 public:
  // observations: one row per trial of dims.size() values, rows back to back (one allocation
  // for a thousand trials), in the estimator's space (a choice index for categorical dims);
  // weights: one per observation.
  // sorted (optional): per dim, the observation indices in ascending order of their value, ties
  // by index (what sorting would give); callers that keep observations sorted between asks pass
  // it to skip the sort.
  ParzenEstimator(const std::vector<ParzenDim>& dims, const std::vector<double>& observations,
                  const std::vector<double>& weights, double prior_weight, bool multivariate,
                  const std::vector<std::vector<uint32_t>>* sorted = nullptr);

  // n points, each a row of dims values in the estimator's space.
  std::vector<std::vector<double>> Sample(std::mt19937_64& rng, int n) const;
  // log density of each point.
  std::vector<double> LogPdf(const std::vector<std::vector<double>>& points) const;

 private:
  struct NumericKernel {
    std::vector<double> mu, sigma, inv_sigma, log_norm;  // per component
  };
  struct CategoricalKernel {
    std::vector<std::vector<double>> log_p;  // per component, per choice
  };

  // acc[i] += log of kernel i's mass over the grid cell of y (a stepped or int dim).
  void AddCellLogMass(const ParzenDim& dim, const NumericKernel& k, double y, double* acc) const;

  const std::vector<ParzenDim>& dims_;
  std::vector<double> log_weights_;  // per component (observations, then the prior)
  std::vector<double> weights_;
  std::vector<NumericKernel> numeric_;          // per dim (empty for categorical)
  std::vector<CategoricalKernel> categorical_;  // per dim (empty for numeric)
};

}  // namespace mlcore::hpo::internal

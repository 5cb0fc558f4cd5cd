// The Gaussian-process regression inside the "gp" sampler: a Matern-5/2 kernel with one length
// scale per input coordinate, a signal variance and a noise variance, fitted by maximising the
// log marginal likelihood (with Optuna-like priors, so few points cannot drive a length
// scale to zero) with L-BFGS over the log parameters. The interface is plain vectors so tests
// and other samplers need not see Eigen.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

namespace mlcore::hpo::internal {

// The floor of the fitted noise variance (of the standardised targets): a jitter that keeps
// the kernel matrix invertible, not a noise estimate; a fit resting on it found no noise.
inline constexpr double kGpMinLogNoise = -13.8;  // about 1.0e-6

struct GpHyperparameters {
  std::vector<double> log_length_scales;  // one per input coordinate
  double log_signal_variance = 0.0;
  double log_noise_variance = -5.7;  // about 0.0033, the noise prior's mode

  static GpHyperparameters Default(int dims);
};

class GaussianProcess {
 public:
  GaussianProcess();
  ~GaussianProcess();
  GaussianProcess(GaussianProcess&&) noexcept;
  GaussianProcess& operator=(GaussianProcess&&) noexcept;

  // x: n points of `dims` coordinates, row after row; y: n targets (standardised by the caller).
  // Starts from `start` (the previous optimum, so refits after one more trial are a few steps)
  // and evaluates the likelihood at most max_evaluations times. Leaves the model conditioned on
  // the data with the fitted hyperparameters.
  void Fit(const std::vector<double>& x, const std::vector<double>& y, int dims,
           const GpHyperparameters& start, int max_evaluations);
  // Conditions on the data with given hyperparameters (no fitting).
  void Condition(const std::vector<double>& x, const std::vector<double>& y, int dims,
                 const GpHyperparameters& hyperparameters);

  // Posterior mean and variance (of the latent function, noise excluded) at m points.
  void Predict(const double* points, int m, double* mean, double* variance) const;

  const GpHyperparameters& hyperparameters() const;
  // log p(y | x, hyperparameters) of the conditioned data (priors excluded).
  double LogMarginalLikelihood() const;
  int size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// log of h(z) = z * Phi(z) + phi(z), the expected improvement of a unit normal over a threshold
// z standard deviations away; finite and accurate for any finite z (asymptotic series far in
// the lower tail, where the direct formula cancels to zero).
double LogH(double z);
// log expected improvement below `best` (minimisation) of N(mean, sigma^2).
inline double LogExpectedImprovement(double mean, double sigma, double best) {
  return std::log(sigma) + LogH((best - mean) / sigma);
}

// log of Huang et al.'s (2006) augmentation factor 1 - sqrt(noise / (variance + noise)) of the
// expected improvement under observation noise: near 1 where the latent variance is well above
// the noise variance, near 0 where a new observation would land within the noise of the ones
// already there (it could not tell the point from them). Written as
// log(v / (v + n)) - log1p(sqrt(n / (v + n))), which is accurate for v far below n.
inline double LogNoiseAugmentation(double variance, double noise) {
  if (!(noise > 0)) return 0.0;
  const double total = variance + noise;
  return std::log(variance / total) - std::log1p(std::sqrt(noise / total));
}

}  // namespace mlcore::hpo::internal

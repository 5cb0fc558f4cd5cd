#include "hpo/parzen_estimator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>

namespace mlcore::hpo::internal {
namespace {

constexpr double kLogSqrt2Pi = 0.91893853320467274178;

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// log(Phi(b) - Phi(a)) for a < b, computed in the tail where it is farther from 0 so the
// difference does not cancel; floored at 1e-300 (a cell far out in a kernel's tail).
double LogGaussMass(double a, double b) {
  double mass;
  if (b <= 0) {
    mass = NormalCdf(b) - NormalCdf(a);
  } else if (a >= 0) {
    mass = NormalCdf(-a) - NormalCdf(-b);
  } else {
    mass = 1.0 - NormalCdf(a) - NormalCdf(-b);
  }
  return std::log(std::max(mass, 1e-300));
}

// exp for x in [-40, 0] to ~1e-13 relative error, branch-free and free of calls (no floor, whose
// SSE2 form is a libm call) so the compiler vectorizes the sum over a thousand kernels.
__attribute__((always_inline)) inline double ExpNonPositive(double x) {
  x = x < -40.0 ? -40.0 : x;
  const double t = x * 1.4426950408889634;  // x / ln 2
  // Adding 1.5 * 2^52 rounds t to the nearest integer k and leaves k in the low mantissa bits.
  constexpr double kMagic = 6755399441055744.0;
  const double shifted = t + kMagic;
  const double k = shifted - kMagic;
  const double f = (t - k) * 0.6931471805599453;  // |f| <= ln(2) / 2
  // Taylor series of e^f to degree 11 (|f| < 0.35: remainder under 1e-14).
  double p = 1.0 / 39916800;
  p = p * f + 1.0 / 3628800;
  p = p * f + 1.0 / 362880;
  p = p * f + 1.0 / 40320;
  p = p * f + 1.0 / 5040;
  p = p * f + 1.0 / 720;
  p = p * f + 1.0 / 120;
  p = p * f + 1.0 / 24;
  p = p * f + 1.0 / 6;
  p = p * f + 0.5;
  p = p * f + 1.0;
  p = p * f + 1.0;
  // 2^k from k's bits (k in [-58, 0]: a normal double).
  int64_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  const int64_t kk = bits - int64_t{0x4338000000000000};
  const int64_t scale_bits = (kk + 1023) << 52;
  double scale;
  std::memcpy(&scale, &scale_bits, sizeof(scale));
  return p * scale;
}

// log(sum(exp(v))); overwrites v with the scaled terms. The exps are a separate map loop (which
// vectorizes) because a floating-point sum does not vectorize without reassociation; four
// running sums cut the dependency chain of the scalar sum.
// Built twice (x86-64-v3, i.e. AVX2 with FMA, and baseline) and picked at load time by the CPU:
// the library is compiled for baseline x86-64, where a vector holds two doubles rather than four.
// ("avx2,fma" would make two clones, AVX2 without FMA and FMA alone.) No trapping math: else
// GCC keeps the clamp in ExpNonPositive a branch (the compare could raise an FP exception) and
// leaves the exp loop scalar; no exception is ever looked at here.
#define MLCORE_HPO_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("no-trapping-math")))

MLCORE_HPO_VECTOR_CLONES double LogSumExp(double* v, size_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) m = v[i] > m ? v[i] : m;
  if (!std::isfinite(m)) return m;
  // Terms more than 40 nats below the largest add under 1e-17 relative and are clamped.
  for (size_t i = 0; i < n; ++i) v[i] = ExpNonPositive(v[i] - m);
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += v[i];
    s1 += v[i + 1];
    s2 += v[i + 2];
    s3 += v[i + 3];
  }
  for (; i < n; ++i) s0 += v[i];
  return m + std::log((s0 + s1) + (s2 + s3));
}

// a[i] += log N(x | mu[i], 1 / inv[i]) (norm[i] holds the log normaliser).
MLCORE_HPO_VECTOR_CLONES void AddGaussianLogPdf(double x, const double* mu, const double* inv,
                                                const double* norm, double* a, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const double z = (x - mu[i]) * inv[i];
    a[i] += norm[i] - 0.5 * z * z;
  }
}

}  // namespace

ParzenDim::ParzenDim(const Distribution& d) : distribution(&d) {
  if (d.is_choice()) {
    categorical = true;
    n_choices = static_cast<int>(d.choices().size());
    return;
  }
  log = d.log();
  double half = d.step().has_value() ? *d.step() / 2 : 0.0;
  half_step = half;
  low = d.low() - half;
  high = d.high() + half;
  if (log) {
    low = std::log(std::max(low, d.low() / 2));
    high = std::log(high);
  }
}

double ParzenDim::Forward(double internal) const {
  if (categorical) return internal;
  return log ? std::log(internal) : internal;
}

double ParzenDim::Backward(double y) const {
  if (categorical) return distribution->Snap(y);
  return distribution->Snap(log ? std::exp(y) : y);
}

ParzenEstimator::ParzenEstimator(const std::vector<ParzenDim>& dims, const std::vector<double>& obs,
                                 const std::vector<double>& weights, double prior_weight,
                                 bool multivariate,
                                 const std::vector<std::vector<uint32_t>>* presorted)
    : dims_(dims) {
  const size_t width = dims.size();
  const size_t n = weights.size();
  const size_t n_comp = n + 1;
  weights_ = weights;
  weights_.push_back(prior_weight);
  double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  log_weights_.resize(n_comp);
  for (size_t i = 0; i < n_comp; ++i) {
    weights_[i] /= total;
    log_weights_[i] = std::log(weights_[i]);
  }
  numeric_.resize(dims.size());
  categorical_.resize(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    const ParzenDim& dim = dims[d];
    if (dim.categorical) {
      // Each observation's kernel: its choice plus prior_weight / (n + 1) on every choice.
      // The smoothing shrinks as observations accumulate (with one kernel half uniform, as
      // before, a choice seen in every good trial still got a quarter of the draws with four
      // choices; the good group could not concentrate on a categorical optimum).
      CategoricalKernel& k = categorical_[d];
      const int K = dim.n_choices;
      k.log_p.assign(n_comp, std::vector<double>(K, 0.0));
      const double base = prior_weight / static_cast<double>(n_comp);
      const double row = 1.0 + base * K;
      for (size_t i = 0; i < n; ++i) {
        for (int c = 0; c < K; ++c) k.log_p[i][c] = std::log(base / row);
        int c = std::clamp(static_cast<int>(obs[i * width + d]), 0, K - 1);
        k.log_p[i][c] = std::log((base + 1.0) / row);
      }
      for (int c = 0; c < K; ++c) k.log_p[n][c] = -std::log(static_cast<double>(K));
      continue;
    }
    NumericKernel& k = numeric_[d];
    const double range = dim.high - dim.low;
    k.mu.resize(n_comp);
    k.sigma.resize(n_comp);
    for (size_t i = 0; i < n; ++i) k.mu[i] = obs[i * width + d];
    k.mu[n] = (dim.low + dim.high) / 2;
    k.sigma[n] = range;
    // The prior counts as a kernel: range / min(100, kernels + 1).
    const double min_sigma = range / std::min(100.0, 2.0 + static_cast<double>(n));
    // Each kernel's width is the distance to its farther neighbour (the bounds count as
    // neighbours, except that the outermost points look only inward), so kernels in dense
    // regions are narrow and lone ones wide; the same rule per dimension in joint mode.
    (void)multivariate;
    std::vector<std::pair<double, uint32_t>> sorted(n);
    if (presorted != nullptr && (*presorted)[d].size() == n) {
      for (size_t r = 0; r < n; ++r) sorted[r] = {k.mu[(*presorted)[d][r]], (*presorted)[d][r]};
    } else {
      for (size_t i = 0; i < n; ++i) sorted[i] = {k.mu[i], static_cast<uint32_t>(i)};
      std::sort(sorted.begin(), sorted.end());
    }
    for (size_t r = 0; r < n; ++r) {
      double x = sorted[r].first;
      double left = x - (r == 0 ? dim.low : sorted[r - 1].first);
      double right = (r + 1 == n ? dim.high : sorted[r + 1].first) - x;
      if (n >= 2 && r == 0) left = 0;
      if (n >= 2 && r + 1 == n) right = 0;
      k.sigma[sorted[r].second] = std::clamp(std::max(left, right), min_sigma, range);
    }
    k.log_norm.resize(n_comp);
    k.inv_sigma.resize(n_comp);
    for (size_t i = 0; i < n_comp; ++i) {
      k.inv_sigma[i] = 1.0 / k.sigma[i];
      // Kernels more than 8 sigma inside both bounds lose under 1e-15 of their mass: skip erfc.
      const double zh = (dim.high - k.mu[i]) * k.inv_sigma[i];
      const double zl = (dim.low - k.mu[i]) * k.inv_sigma[i];
      k.log_norm[i] = -std::log(k.sigma[i]) - kLogSqrt2Pi;
      if (zh > 8 && zl < -8) continue;  // log(1) == 0
      k.log_norm[i] -= std::log(std::max(NormalCdf(zh) - NormalCdf(zl), 1e-300));
    }
  }
}

std::vector<std::vector<double>> ParzenEstimator::Sample(std::mt19937_64& rng, int n) const {
  std::discrete_distribution<size_t> pick(weights_.begin(), weights_.end());
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<std::vector<double>> out(n, std::vector<double>(dims_.size()));
  for (int s = 0; s < n; ++s) {
    size_t c = pick(rng);
    for (size_t d = 0; d < dims_.size(); ++d) {
      const ParzenDim& dim = dims_[d];
      if (dim.categorical) {
        const std::vector<double>& lp = categorical_[d].log_p[c];
        double u = uniform(rng), acc = 0;
        int choice = dim.n_choices - 1;
        for (int k = 0; k < dim.n_choices; ++k) {
          acc += std::exp(lp[k]);
          if (u < acc) {
            choice = k;
            break;
          }
        }
        out[s][d] = choice;
        continue;
      }
      const NumericKernel& k = numeric_[d];
      double x = k.mu[c];
      bool accepted = false;
      for (int attempt = 0; attempt < 100; ++attempt) {
        double y = k.mu[c] + k.sigma[c] * normal(rng);
        if (y >= dim.low && y <= dim.high) {
          x = y;
          accepted = true;
          break;
        }
      }
      if (!accepted) x = dim.low + uniform(rng) * (dim.high - dim.low);
      out[s][d] = x;
    }
  }
  return out;
}

void ParzenEstimator::AddCellLogMass(const ParzenDim& dim, const NumericKernel& k, double y,
                                     double* acc) const {
  // The cell of the grid point y stands for, in the estimator's space.
  const double v = dim.log ? std::exp(y) : y;
  const double left = dim.log ? std::log(v - dim.half_step) : v - dim.half_step;
  const double right = dim.log ? std::log(v + dim.half_step) : v + dim.half_step;
  const double width = right - left;
  for (size_t i = 0; i < k.mu.size(); ++i) {
    const double inv = k.inv_sigma[i];
    // A kernel five cells wide or more is flat over the cell: density times width is within
    // 0.2% of the mass and costs no erfc (the common case for wide ranges and the prior).
    if (width * inv < 0.2) {
      const double z = (y - k.mu[i]) * inv;
      acc[i] += k.log_norm[i] - 0.5 * z * z + std::log(width);
      continue;
    }
    // log_norm holds -log(sigma sqrt(2 pi)) - log(truncation mass): keep the truncation part.
    const double log_trunc = k.log_norm[i] + std::log(k.sigma[i]) + kLogSqrt2Pi;
    acc[i] += LogGaussMass((left - k.mu[i]) * inv, (right - k.mu[i]) * inv) + log_trunc;
  }
}

std::vector<double> ParzenEstimator::LogPdf(const std::vector<std::vector<double>>& points) const {
  const size_t n_comp = log_weights_.size();
  std::vector<double> out(points.size());
  std::vector<double> acc(n_comp);
  for (size_t p = 0; p < points.size(); ++p) {
    std::copy(log_weights_.begin(), log_weights_.end(), acc.begin());
    for (size_t d = 0; d < dims_.size(); ++d) {
      double x = points[p][d];
      if (dims_[d].categorical) {
        const auto& lp = categorical_[d].log_p;
        int c = static_cast<int>(x);
        for (size_t i = 0; i < n_comp; ++i) acc[i] += lp[i][c];
        continue;
      }
      const NumericKernel& k = numeric_[d];
      if (dims_[d].half_step > 0) {
        AddCellLogMass(dims_[d], k, x, acc.data());
        continue;
      }
      AddGaussianLogPdf(x, k.mu.data(), k.inv_sigma.data(), k.log_norm.data(), acc.data(), n_comp);
    }
    out[p] = LogSumExp(acc.data(), n_comp);
  }
  return out;
}

}  // namespace mlcore::hpo::internal

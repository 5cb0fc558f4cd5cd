#include "hpo/gaussian_process.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

namespace mlcore::hpo::internal {
namespace {

constexpr double kSqrt5 = 2.2360679774997896964;
constexpr double kLog2Pi = 1.8378770664093454836;
// Bounds of the log parameters: inputs live in [0, 1] and targets are standardised, so length
// scales outside [1e-3, 1e3] and variances outside these ranges only mean a failed fit.
constexpr double kMinLogLength = -6.9, kMaxLogLength = 6.9;
constexpr double kMinLogSignal = -6.9, kMaxLogSignal = 6.9;
constexpr double kMinLogNoise = kGpMinLogNoise, kMaxLogNoise = 0.0;
// Priors (as Optuna's GPSampler and BoTorch's defaults shape them; issue 17). With u = log l,
// -log p(u) = 0.1 (l^2 + l^-2): a mode at the whole cube and a steep wall below ~0.1, so 15
// length scales fitted from 100 points stay smooth (the log-normal around 0.5 used before let
// the fit chase single points on Levy 15-D). Signal variance s ~ Gamma(2, 1); noise variance
// v ~ Gamma(1.1, 30) (mode 0.0033 of the standardised variance), which averages noise where
// the old prior around 1e-4 interpolated it (noisy Hartmann6). The densities are taken on the
// variables themselves, as Optuna does, with no Jacobian of the log transform.
constexpr double kLengthPrior = 0.1;
constexpr double kSignalShape = 2.0, kSignalRate = 1.0;
constexpr double kNoiseShape = 1.1, kNoiseRate = 30.0;
// Starting point of a fresh fit: the priors' modes.
constexpr double kStartLogNoise = -5.7;

// -log prior of theta and (when grad is non-null) its gradient, added into grad.
double NegLogPrior(const std::vector<double>& theta, std::vector<double>* grad) {
  const size_t d = theta.size() - 2;
  double value = 0;
  for (size_t k = 0; k < d; ++k) {
    const double a = std::exp(2 * theta[k]), b = std::exp(-2 * theta[k]);
    value += kLengthPrior * (a + b);
    if (grad != nullptr) (*grad)[k] += 2 * kLengthPrior * (a - b);
  }
  const double s = std::exp(theta[d]), v = std::exp(theta[d + 1]);
  value += -(kSignalShape - 1) * theta[d] + kSignalRate * s;
  value += -(kNoiseShape - 1) * theta[d + 1] + kNoiseRate * v;
  if (grad != nullptr) {
    (*grad)[d] += -(kSignalShape - 1) + kSignalRate * s;
    (*grad)[d + 1] += -(kNoiseShape - 1) + kNoiseRate * v;
  }
  return value;
}

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Vector = Eigen::VectorXd;

// Matern-5/2 correlation at scaled distance r.
inline double Matern(double r) {
  return (1 + kSqrt5 * r + 5.0 / 3.0 * r * r) * std::exp(-kSqrt5 * r);
}

// theta = (log length scales..., log signal variance, log noise variance).
std::vector<double> Pack(const GpHyperparameters& h) {
  std::vector<double> t = h.log_length_scales;
  t.push_back(h.log_signal_variance);
  t.push_back(h.log_noise_variance);
  return t;
}

GpHyperparameters Unpack(const std::vector<double>& t) {
  GpHyperparameters h;
  h.log_length_scales.assign(t.begin(), t.end() - 2);
  h.log_signal_variance = t[t.size() - 2];
  h.log_noise_variance = t.back();
  return h;
}

void Clamp(std::vector<double>* t) {
  const size_t d = t->size() - 2;
  for (size_t i = 0; i < d; ++i) (*t)[i] = std::clamp((*t)[i], kMinLogLength, kMaxLogLength);
  (*t)[d] = std::clamp((*t)[d], kMinLogSignal, kMaxLogSignal);
  (*t)[d + 1] = std::clamp((*t)[d + 1], kMinLogNoise, kMaxLogNoise);
}

// The (s, y) pairs of the last L-BFGS steps: s the step taken, y the change of the gradient.
using LbfgsMemory = std::deque<std::pair<std::vector<double>, std::vector<double>>>;

// L-BFGS's two-loop recursion: H grad for the inverse Hessian H that the (s, y) pairs of
// `memory` (oldest first) define, scaled by s.y / y.y of the newest pair (or, with no pairs,
// a steepest-descent step of length at most 1). The search direction is its negative.
std::vector<double> LbfgsDirection(const std::vector<double>& grad, const LbfgsMemory& memory) {
  const size_t p = grad.size();
  std::vector<double> q = grad;
  std::vector<double> alphas(memory.size());
  for (size_t i = memory.size(); i-- > 0;) {
    const auto& [s, yv] = memory[i];
    double sy = 0, sq = 0;
    for (size_t k = 0; k < p; ++k) sy += s[k] * yv[k], sq += s[k] * q[k];
    alphas[i] = sq / sy;
    for (size_t k = 0; k < p; ++k) q[k] -= alphas[i] * yv[k];
  }
  double scale = 1.0;
  if (!memory.empty()) {
    const auto& [s, yv] = memory.back();
    double sy = 0, yy = 0;
    for (size_t k = 0; k < p; ++k) sy += s[k] * yv[k], yy += yv[k] * yv[k];
    scale = sy / yy;
  } else {
    double gn = 0;
    for (double g : grad) gn += g * g;
    scale = std::min(1.0, 1.0 / std::sqrt(gn + 1e-300));
  }
  for (double& v : q) v *= scale;
  for (size_t i = 0; i < memory.size(); ++i) {
    const auto& [s, yv] = memory[i];
    double sy = 0, yq = 0;
    for (size_t k = 0; k < p; ++k) sy += s[k] * yv[k], yq += yv[k] * q[k];
    const double beta = yq / sy;
    for (size_t k = 0; k < p; ++k) q[k] += s[k] * (alphas[i] - beta);
  }
  return q;
}

}  // namespace

GpHyperparameters GpHyperparameters::Default(int dims) {
  GpHyperparameters h;
  h.log_length_scales.assign(dims, 0.0);
  h.log_noise_variance = kStartLogNoise;
  return h;
}

struct GaussianProcess::Impl {
  int n = 0, d = 0;
  Matrix x;  // d x n: one column per point
  Vector y;
  GpHyperparameters h;
  Eigen::LLT<Matrix> llt;
  Vector alpha;
  double lml = 0;

  // Scaled copy of the inputs (each coordinate divided by its length scale).
  Matrix Scaled(const GpHyperparameters& hp) const {
    Matrix s = x;
    for (int k = 0; k < d; ++k) s.row(k) *= std::exp(-hp.log_length_scales[k]);
    return s;
  }

  // Builds K and factors it; false when it is not positive definite.
  bool Factor(const GpHyperparameters& hp, const Matrix& s, Matrix* r) {
    const double s2 = std::exp(hp.log_signal_variance);
    const double noise = std::exp(hp.log_noise_variance) + 1e-9;
    // Squared distances by the Gram trick, clamped at 0 against rounding.
    Vector norms = s.colwise().squaredNorm().transpose();
    Matrix gram = s.transpose() * s;
    r->resize(n, n);
    Matrix k(n, n);
    for (int j = 0; j < n; ++j) {
      for (int i = j; i < n; ++i) {
        double r2 = std::max(norms[i] + norms[j] - 2 * gram(i, j), 0.0);
        double rr = i == j ? 0.0 : std::sqrt(r2);
        (*r)(i, j) = (*r)(j, i) = rr;
        k(i, j) = k(j, i) = s2 * Matern(rr);
      }
      k(j, j) += noise;
    }
    llt.compute(k);
    return llt.info() == Eigen::Success;
  }

  // Negative log posterior (likelihood + priors) and its gradient in theta.
  double Objective(const std::vector<double>& theta, std::vector<double>* grad) {
    GpHyperparameters hp = Unpack(theta);
    Matrix s = Scaled(hp);
    Matrix r;
    if (!Factor(hp, s, &r)) return std::numeric_limits<double>::infinity();
    Vector a = llt.solve(y);
    double log_det = 0;
    for (int i = 0; i < n; ++i) log_det += 2 * std::log(llt.matrixLLT()(i, i));
    double value = 0.5 * y.dot(a) + 0.5 * log_det + 0.5 * n * kLog2Pi;
    if (grad == nullptr) return value + NegLogPrior(theta, nullptr);

    // d(-lml)/dtheta = -0.5 tr(W dK/dtheta), W = a a^T - K^-1.
    Matrix w = llt.solve(Matrix::Identity(n, n));
    w = a * a.transpose() - w;
    const double s2 = std::exp(hp.log_signal_variance);
    const double noise = std::exp(hp.log_noise_variance);
    grad->assign(theta.size(), 0.0);
    double g_signal = 0;
    double g_noise = 0;
    std::vector<double> g_len(d, 0.0);
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) {
        const double rr = r(i, j);
        const double e = std::exp(-kSqrt5 * rr);
        g_signal += w(i, j) * s2 * (1 + kSqrt5 * rr + 5.0 / 3.0 * rr * rr) * e;
        if (i == j) continue;
        // dk/dlog l_k = s2 * 5/3 (1 + sqrt5 r) e^{-sqrt5 r} * (dx_k / l_k)^2
        const double c = w(i, j) * s2 * 5.0 / 3.0 * (1 + kSqrt5 * rr) * e;
        for (int k = 0; k < d; ++k) {
          const double dx = s(k, i) - s(k, j);
          g_len[k] += c * dx * dx;
        }
      }
      g_noise += w(j, j) * noise;
    }
    for (int k = 0; k < d; ++k) (*grad)[k] = -0.5 * g_len[k];
    (*grad)[d] = -0.5 * g_signal;
    (*grad)[d + 1] = -0.5 * g_noise;
    return value + NegLogPrior(theta, grad);
  }

  void Load(const std::vector<double>& xs, const std::vector<double>& ys, int dims) {
    d = dims;
    n = static_cast<int>(ys.size());
    x = Eigen::Map<const Matrix>(xs.data(), d, n);
    y = Eigen::Map<const Vector>(ys.data(), n);
  }

  void Finish(const GpHyperparameters& hp) {
    h = hp;
    Matrix s = Scaled(h);
    Matrix r;
    // A failed factorisation (duplicate points with no noise) retries with more noise.
    while (!Factor(h, s, &r) && h.log_noise_variance < kMaxLogNoise) {
      h.log_noise_variance = std::min(h.log_noise_variance + 2.3, kMaxLogNoise);
    }
    alpha = llt.solve(y);
    double log_det = 0;
    for (int i = 0; i < n; ++i) log_det += 2 * std::log(llt.matrixLLT()(i, i));
    lml = -0.5 * y.dot(alpha) - 0.5 * log_det - 0.5 * n * kLog2Pi;
  }
};

GaussianProcess::GaussianProcess() : impl_(std::make_unique<Impl>()) {}
GaussianProcess::~GaussianProcess() = default;
GaussianProcess::GaussianProcess(GaussianProcess&&) noexcept = default;
GaussianProcess& GaussianProcess::operator=(GaussianProcess&&) noexcept = default;

void GaussianProcess::Fit(const std::vector<double>& x, const std::vector<double>& y, int dims,
                          const GpHyperparameters& start, int max_evaluations) {
  Impl& m = *impl_;
  m.Load(x, y, dims);
  std::vector<double> theta = Pack(start);
  if (static_cast<int>(start.log_length_scales.size()) != dims) {
    theta = Pack(GpHyperparameters::Default(dims));
  }
  Clamp(&theta);
  // L-BFGS (memory 6) with a backtracking Armijo line search, projected onto the box.
  const size_t p = theta.size();
  std::vector<double> grad;
  double f = m.Objective(theta, &grad);
  int evaluations = 1;
  LbfgsMemory memory;
  while (std::isfinite(f) && evaluations < max_evaluations) {
    std::vector<double> q = LbfgsDirection(grad, memory);
    double slope = 0;
    for (size_t k = 0; k < p; ++k) slope -= grad[k] * q[k];
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      memory.clear();
      q = grad;
      double gn = 0;
      for (double g : grad) gn += g * g;
      for (double& v : q) v /= std::sqrt(gn + 1e-300);
      slope = -std::sqrt(gn);
    }
    double step = 1.0;
    std::vector<double> next(p), next_grad;
    double next_f = std::numeric_limits<double>::infinity();
    bool moved = false;
    while (evaluations < max_evaluations) {
      for (size_t k = 0; k < p; ++k) next[k] = theta[k] - step * q[k];
      Clamp(&next);
      next_f = m.Objective(next, &next_grad);
      ++evaluations;
      if (std::isfinite(next_f) && next_f <= f + 1e-4 * step * slope) {
        moved = true;
        break;
      }
      step *= 0.3;
      if (step < 1e-6) break;
    }
    if (!moved) break;
    std::vector<double> s(p), yv(p);
    double sy = 0;
    for (size_t k = 0; k < p; ++k) {
      s[k] = next[k] - theta[k];
      yv[k] = next_grad[k] - grad[k];
      sy += s[k] * yv[k];
    }
    const double improvement = f - next_f;
    theta = next;
    grad = next_grad;
    f = next_f;
    if (sy > 1e-12) {
      memory.emplace_back(std::move(s), std::move(yv));
      if (memory.size() > 6) memory.pop_front();
    }
    if (improvement < 1e-7 * std::max(1.0, std::abs(f))) break;
  }
  m.Finish(Unpack(theta));
}

void GaussianProcess::Condition(const std::vector<double>& x, const std::vector<double>& y,
                                int dims, const GpHyperparameters& hyperparameters) {
  impl_->Load(x, y, dims);
  std::vector<double> theta = Pack(hyperparameters);
  Clamp(&theta);
  impl_->Finish(Unpack(theta));
}

void GaussianProcess::Predict(const double* points, int m, double* mean, double* variance) const {
  const Impl& g = *impl_;
  const int n = g.n, d = g.d;
  Eigen::Map<const Matrix> p(points, d, m);
  Matrix sp = p;
  Matrix sx = g.x;
  for (int k = 0; k < d; ++k) {
    const double inv = std::exp(-g.h.log_length_scales[k]);
    sp.row(k) *= inv;
    sx.row(k) *= inv;
  }
  const double s2 = std::exp(g.h.log_signal_variance);
  Vector pn = sp.colwise().squaredNorm().transpose();
  Vector xn = sx.colwise().squaredNorm().transpose();
  Matrix ks = sx.transpose() * sp;  // n x m
  for (int j = 0; j < m; ++j) {
    for (int i = 0; i < n; ++i) {
      double r2 = std::max(xn[i] + pn[j] - 2 * ks(i, j), 0.0);
      ks(i, j) = s2 * Matern(std::sqrt(r2));
    }
  }
  Vector mu = ks.transpose() * g.alpha;
  g.llt.matrixL().solveInPlace(ks);
  Vector v = ks.colwise().squaredNorm().transpose();
  for (int j = 0; j < m; ++j) {
    mean[j] = mu[j];
    variance[j] = std::max(s2 - v[j], 1e-12 * s2);
  }
}

const GpHyperparameters& GaussianProcess::hyperparameters() const { return impl_->h; }
double GaussianProcess::LogMarginalLikelihood() const { return impl_->lml; }
int GaussianProcess::size() const { return impl_->n; }

double LogH(double z) {
  constexpr double kLogSqrt2Pi = 0.91893853320467274178;
  if (z > -5.0) {
    // Direct formula: at z = -5 the cancellation costs under 2 of 16 digits.
    const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
    const double pdf = std::exp(-0.5 * z * z - kLogSqrt2Pi);
    return std::log(z * cdf + pdf);
  }
  const double t = -z;
  // h(z) = phi(t) (1 - t R(t)) with R the Mills ratio Phi(-t) / phi(t).
  double tail;
  if (t < 26.0) {
    const double mills = 0.5 * std::erfc(t / std::sqrt(2.0)) * std::exp(0.5 * t * t + kLogSqrt2Pi);
    tail = 1.0 - t * mills;
  } else {
    // 1 - t R(t) = 1/t^2 - 3/t^4 + 15/t^6 - ... (asymptotic; at t >= 26 five terms are exact
    // to double precision).
    const double u = 1.0 / (t * t);
    tail = u * (1 - u * (3 - u * (15 - u * (105 - u * 945))));
  }
  return -0.5 * t * t - kLogSqrt2Pi + std::log(tail);
}

}  // namespace mlcore::hpo::internal

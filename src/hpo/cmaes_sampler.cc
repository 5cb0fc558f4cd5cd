// CMA-ES (Hansen's covariance matrix adaptation evolution strategy) over the unit cube of the
// numeric parameters (space_encoding.h: log ranges in log space, ints rounded onto their grid),
// with IPOP restarts: when a run converges (step size or spread of values collapses, the
// covariance degenerates) or stalls, a new run starts from a random mean with twice the
// population, which trades the local polish of one run for global search. Categorical
// parameters are not part of the distribution and are sampled at random.
//
// The state (mean, step size, covariance, evolution paths) lives in the sampler object, is saved
// with the study after every ask (study system attr "cmaes:state") so a study loaded by a later
// process continues the same run, and is advanced from the trials it handed out: a generation ends
// when lambda of its trials have a value. Failed trials free their slot; with more parallel workers
// than lambda, extra trials of the same generation are asked and the first lambda results count.
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "hpo/builtin.h"
#include "hpo/space_encoding.h"
#include "mlcore/hpo/storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using Json = nlohmann::json;

class CmaEsSampler : public Sampler {
 public:
  CmaEsSampler(const SamplerOptions& options, uint64_t seed) : options_(options), seed_(seed) {}
  std::string name() const override { return "cmaes"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    SpaceEncoding enc(IntersectionSpace(context), /*include_categorical=*/false);
    if (enc.empty()) return std::map<std::string, double>();
    std::vector<std::string> names;
    for (const auto& dim : enc.dims()) names.push_back(dim.name);
    if (names_.empty() && context.storage != nullptr) {
      // A fresh sampler on a stored study (a later process): continue the saved run.
      MLCORE_ASSIGN_OR_RETURN(auto attrs, context.storage->GetStudySystemAttrs(context.study_id));
      auto saved = attrs.find(kStateAttr);
      if (saved != attrs.end()) MLCORE_RETURN_IF_ERROR(Restore(saved->second, names));
    }
    if (names != names_) {
      names_ = names;
      restarts_ = 0;
      Start(enc.size(), FirstPopulation(enc.size()), /*random_mean=*/false);
    }
    Collect(context);
    std::mt19937_64 rng(TrialSeed(seed_, trial.number, "cmaes"));
    std::vector<double> x = Draw(enc, rng);
    members_[trial.number] = {generation_id_, x};
    if (context.storage != nullptr) {
      MLCORE_RETURN_IF_ERROR(
          context.storage->SetStudySystemAttr(context.study_id, kStateAttr, Save()));
    }
    return enc.Decode(x.data());
  }

  StatusOr<double> SampleIndependent(const SamplerContext&, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    return SampleUniform(d, TrialSeed(seed_, trial.number, name));
  }

 private:
  struct Member {
    int64_t generation;
    std::vector<double> x;
  };

  static constexpr char kStateAttr[] = "cmaes:state";
  static constexpr double kMaxSigma = 1e32;

  static Json VectorJson(const VectorXd& v) {
    return Json(std::vector<double>(v.begin(), v.end()));
  }
  static Json MatrixJson(const MatrixXd& m) {
    return Json(std::vector<double>(m.data(), m.data() + m.size()));  // column-major
  }

  // Everything the next suggestions depend on, exactly (JSON keeps every bit of a double).
  std::string Save() const {
    Json j;
    j["version"] = 1;
    j["names"] = names_;
    j["n"] = n_;
    j["lambda"] = lambda_;
    j["mean"] = VectorJson(mean_);
    j["sigma"] = sigma_;
    j["c"] = MatrixJson(c_);
    j["b"] = MatrixJson(b_);
    j["d"] = VectorJson(d_);
    j["ps"] = VectorJson(ps_);
    j["pc"] = VectorJson(pc_);
    j["generation"] = generation_;
    j["generation_id"] = generation_id_;
    j["restarts"] = restarts_;
    j["best_history"] = std::vector<double>(best_history_.begin(), best_history_.end());
    Json members = Json::array();
    for (const auto& [number, m] : members_) members.push_back({number, m.generation, m.x});
    j["members"] = std::move(members);
    return j.dump();
  }

  // Takes the saved state when it is for the same parameters; a state for other parameters (the
  // space changed) is ignored and a new run starts. DataLoss for a state that does not parse.
  Status Restore(const std::string& text, const std::vector<std::string>& names) {
    Json j = Json::parse(text, nullptr, false);
    auto corrupt = [&](const std::string& why) {
      return absl::DataLossError(absl::StrCat("cmaes: the saved state (study system attr '",
                                              kStateAttr, "') is not valid: ", why));
    };
    if (!j.is_object() || j.value("version", 0) != 1) return corrupt("not a version 1 object");
    try {
      if (j.at("names").get<std::vector<std::string>>() != names) return absl::OkStatus();
      const int n = j.at("n").get<int>();
      auto vec = [&](const char* key) {
        std::vector<double> v = j.at(key).get<std::vector<double>>();
        if (static_cast<int>(v.size()) != n) throw std::runtime_error(key);
        return VectorXd(Eigen::Map<VectorXd>(v.data(), n));
      };
      auto mat = [&](const char* key) {
        std::vector<double> v = j.at(key).get<std::vector<double>>();
        if (static_cast<int>(v.size()) != n * n) throw std::runtime_error(key);
        return MatrixXd(Eigen::Map<MatrixXd>(v.data(), n, n));
      };
      VectorXd mean = vec("mean"), d = vec("d"), ps = vec("ps"), pc = vec("pc");
      MatrixXd c = mat("c"), b = mat("b");
      const int64_t generation_id = j.at("generation_id").get<int64_t>();
      // Start sets the constants of this (n, lambda); the saved state then replaces the rest.
      restarts_ = j.at("restarts").get<int64_t>();
      Start(n, j.at("lambda").get<int>(), /*random_mean=*/false);
      names_ = names;
      mean_ = mean;
      sigma_ = j.at("sigma").get<double>();
      c_ = c;
      b_ = b;
      d_ = d;
      ps_ = ps;
      pc_ = pc;
      generation_ = j.at("generation").get<int>();
      generation_id_ = generation_id;
      std::vector<double> history = j.at("best_history").get<std::vector<double>>();
      best_history_.assign(history.begin(), history.end());
      members_.clear();
      for (const Json& m : j.at("members")) {
        members_[m.at(0).get<int64_t>()] = {m.at(1).get<int64_t>(),
                                            m.at(2).get<std::vector<double>>()};
      }
    } catch (const std::exception& e) {
      names_.clear();
      return corrupt(e.what());
    }
    return absl::OkStatus();
  }

  int FirstPopulation(int n) const {
    if (options_.cmaes_popsize > 0) return options_.cmaes_popsize;
    return 4 + static_cast<int>(std::floor(3 * std::log(static_cast<double>(n))));
  }

  // Constants of Hansen's tutorial (arXiv:1604.00772, "default parameters"), with its active
  // covariance update: every one of the lambda ranked points has a weight, the best mu positive
  // (they move the mean) and the rest negative (they shrink the covariance along directions
  // that did badly). The `cmaes` package Optuna's CmaEsSampler runs does the same; without the
  // negative half the covariance adapted to Rosenbrock 5-D's curved valley a generation or two
  // later, which at 100 trials (12 generations of 8) is most of the budget.
  void Start(int n, int lambda, bool random_mean) {
    n_ = n;
    lambda_ = std::max(lambda, 2);
    mu_ = lambda_ / 2;
    std::vector<double> raw(lambda_);
    double pos_sum = 0, pos_sq = 0, neg_sum = 0, neg_sq = 0;
    for (int i = 0; i < lambda_; ++i) {
      raw[i] = std::log((lambda_ + 1) / 2.0) - std::log(i + 1.0);
      if (i < mu_) {
        pos_sum += raw[i];
        pos_sq += raw[i] * raw[i];
      } else {
        neg_sum += std::abs(raw[i]);
        neg_sq += raw[i] * raw[i];
      }
    }
    mueff_ = pos_sum * pos_sum / pos_sq;
    const double mueff_neg = neg_sq > 0 ? neg_sum * neg_sum / neg_sq : 0;
    const double dn = n;
    cs_ = (mueff_ + 2) / (dn + mueff_ + 5);
    ds_ = 1 + 2 * std::max(0.0, std::sqrt((mueff_ - 1) / (dn + 1)) - 1) + cs_;
    cc_ = (4 + mueff_ / dn) / (dn + 4 + 2 * mueff_ / dn);
    c1_ = 2 / ((dn + 1.3) * (dn + 1.3) + mueff_);
    cmu_ = std::min(1 - c1_, 2 * (mueff_ - 2 + 1 / mueff_) / ((dn + 2) * (dn + 2) + mueff_));
    // The negative weights sum to -min(alpha_mu, alpha_mueff, alpha_posdef): small enough that
    // the covariance stays positive definite.
    const double alpha_neg = std::min(
        {1 + c1_ / cmu_, 1 + 2 * mueff_neg / (mueff_ + 2), (1 - c1_ - cmu_) / (dn * cmu_)});
    weights_.resize(lambda_);
    weights_sum_ = 0;
    for (int i = 0; i < lambda_; ++i) {
      weights_[i] = i < mu_ ? raw[i] / pos_sum : (neg_sum > 0 ? alpha_neg * raw[i] / neg_sum : 0);
      weights_sum_ += weights_[i];
    }
    chi_n_ = std::sqrt(dn) * (1 - 1 / (4 * dn) + 1 / (21 * dn * dn));
    mean_ = VectorXd::Constant(n, 0.5);
    if (random_mean) {
      std::mt19937_64 rng(TrialSeed(seed_, restarts_, "cmaes-restart"));
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (int i = 0; i < n; ++i) mean_[i] = u(rng);
    }
    sigma_ = options_.cmaes_sigma0;
    c_ = MatrixXd::Identity(n, n);
    b_ = MatrixXd::Identity(n, n);
    d_ = VectorXd::Ones(n);
    ps_ = VectorXd::Zero(n);
    pc_ = VectorXd::Zero(n);
    generation_ = 0;
    ++generation_id_;
    best_history_.clear();
  }

  // Reads the results of the current generation and updates the distribution when lambda of
  // them are in.
  void Collect(const SamplerContext& context) {
    std::vector<std::pair<double, const std::vector<double>*>> results;
    const double sign = context.direction == StudyDirection::kMinimize ? 1.0 : -1.0;
    for (const auto& t : context.trials) {
      auto it = members_.find(t->number);
      if (it == members_.end()) continue;
      if (it->second.generation != generation_id_) {
        if (IsFinished(t->state)) members_.erase(it);
        continue;
      }
      if ((t->state == TrialState::kComplete || t->state == TrialState::kPruned) && t->has_value &&
          std::isfinite(t->value)) {
        results.emplace_back(sign * t->value, &it->second.x);
      } else if (t->state == TrialState::kFailed) {
        members_.erase(it);
      }
    }
    if (static_cast<int>(results.size()) < lambda_) return;
    std::stable_sort(results.begin(), results.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    results.resize(lambda_);
    Update(results);
    for (auto it = members_.begin(); it != members_.end();) {
      it = it->second.generation != generation_id_ ? std::next(it) : members_.erase(it);
    }
    ++generation_id_;
    if (ShouldRestart(results) && options_.cmaes_restarts) {
      ++restarts_;
      Start(n_, lambda_ * 2, /*random_mean=*/true);
    }
  }

  void Update(const std::vector<std::pair<double, const std::vector<double>*>>& sorted) {
    const int n = n_;
    const int count = static_cast<int>(sorted.size());  // lambda
    MatrixXd y(n, count);
    for (int i = 0; i < count; ++i) {
      VectorXd x = Eigen::Map<const VectorXd>(sorted[i].second->data(), n);
      y.col(i) = (x - mean_) / sigma_;
    }
    VectorXd yw = VectorXd::Zero(n);
    for (int i = 0; i < mu_; ++i) yw += weights_[i] * y.col(i);
    mean_ += sigma_ * yw;
    // C^-1/2 v = B D^-1 B^T v
    auto c_inv_half = [&](const VectorXd& v) -> VectorXd {
      return b_ * (b_.transpose() * v).cwiseQuotient(d_);
    };
    ps_ = (1 - cs_) * ps_ + std::sqrt(cs_ * (2 - cs_) * mueff_) * c_inv_half(yw);
    ++generation_;
    const double ps_norm = ps_.norm();
    // The stall test of the `cmaes` package (its generation count plus one in the bias
    // correction, one generation more lenient than the tutorial's in the first updates).
    const bool hsig = ps_norm / std::sqrt(1 - std::pow(1 - cs_, 2.0 * (generation_ + 1))) <
                      (1.4 + 2.0 / (n + 1)) * chi_n_;
    pc_ = (1 - cc_) * pc_ + (hsig ? std::sqrt(cc_ * (2 - cc_) * mueff_) : 0.0) * yw;
    // Rank-mu over all lambda points; a negative weight is rescaled by n / |C^-1/2 y|^2, so a
    // long bad step cannot remove more variance than a typical one.
    MatrixXd rank_mu = MatrixXd::Zero(n, n);
    for (int i = 0; i < count; ++i) {
      double w = weights_[i];
      if (w < 0) w *= NegativeWeightScale(c_inv_half(y.col(i)).squaredNorm());
      rank_mu += w * y.col(i) * y.col(i).transpose();
    }
    const double lost = hsig ? 0.0 : cc_ * (2 - cc_);
    c_ = (1 + c1_ * lost - c1_ - cmu_ * weights_sum_) * c_ + c1_ * pc_ * pc_.transpose() +
         cmu_ * rank_mu;
    // Cumulative step-size adaptation, not clamped (as the `cmaes` package); the bound only
    // keeps a runaway step finite.
    sigma_ = std::min(sigma_ * std::exp(cs_ / ds_ * (ps_norm / chi_n_ - 1)), kMaxSigma);
    c_ = (c_ + c_.transpose()) / 2;
    Eigen::SelfAdjointEigenSolver<MatrixXd> eig(c_);
    b_ = eig.eigenvectors();
    d_ = eig.eigenvalues().cwiseMax(1e-20).cwiseSqrt();
  }

  // n / |C^-1/2 y|^2: how much of a negative weight a point of that Mahalanobis length keeps.
  double NegativeWeightScale(double squared_norm) const {
    return n_ / std::max(squared_norm, 1e-8);
  }

  bool ShouldRestart(const std::vector<std::pair<double, const std::vector<double>*>>& sorted) {
    const double best = sorted.front().first, worst = sorted.back().first;
    best_history_.push_back(best);
    const size_t window = 10 + static_cast<size_t>(std::ceil(30.0 * n_ / lambda_));
    if (best_history_.size() > window) best_history_.pop_front();
    // Converged: steps below 1e-4 of every range, finer than any hyperparameter needs.
    if (sigma_ * d_.maxCoeff() < 1e-4) return true;
    if (worst - best <= 1e-12 * std::max(1.0, std::abs(best))) return true;
    if (d_.maxCoeff() > 1e7 * d_.minCoeff()) return true;
    if (best_history_.size() == window) {
      const auto [lo, hi] = std::minmax_element(best_history_.begin(), best_history_.end());
      if (*hi - *lo <= 1e-12 * std::max(1.0, std::abs(*lo))) return true;
    }
    return false;
  }

  std::vector<double> Draw(const SpaceEncoding& enc, std::mt19937_64& rng) const {
    std::normal_distribution<double> normal(0.0, 1.0);
    auto sample = [&] {
      VectorXd z(n_);
      for (int i = 0; i < n_; ++i) z[i] = normal(rng);
      return VectorXd(mean_ + sigma_ * (b_ * d_.cwiseProduct(z)));
    };
    auto inside = [](const VectorXd& v) {
      return (v.array() >= 0).all() && (v.array() <= 1).all();
    };
    // Resample points outside the cube (10 n times, Optuna's setting of the `cmaes` package),
    // then take one more draw clipped onto the cube (Snap clamps): the distribution stays
    // unbiased inside while the bounds hold, and the update sees the point that was evaluated.
    VectorXd x = sample();
    for (int attempt = 1; attempt < 10 * n_ && !inside(x); ++attempt) x = sample();
    if (!inside(x)) x = sample();
    std::vector<double> out(x.data(), x.data() + n_);
    enc.Snap(out.data());
    return out;
  }

  SamplerOptions options_;
  uint64_t seed_;
  std::vector<std::string> names_;
  int n_ = 0, lambda_ = 0, mu_ = 0;
  std::vector<double> weights_;
  double weights_sum_ = 0;  // positive ones sum to 1, negative ones to -alpha
  double mueff_ = 0, cs_ = 0, ds_ = 0, cc_ = 0, c1_ = 0, cmu_ = 0, chi_n_ = 0;
  VectorXd mean_, d_, ps_, pc_;
  MatrixXd c_, b_;
  double sigma_ = 0;
  int generation_ = 0;
  int64_t generation_id_ = 0;
  int64_t restarts_ = 0;
  std::deque<double> best_history_;
  std::map<int64_t, Member> members_;  // trial number -> its generation and point
};

StatusOr<std::unique_ptr<Sampler>> NewCmaEsSampler(const SamplerOptions& options) {
  if (!(options.cmaes_sigma0 > 0 && options.cmaes_sigma0 <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cmaes: cmaes_sigma0 must be in (0, 1], got ", options.cmaes_sigma0));
  }
  if (options.cmaes_popsize < 0 || options.cmaes_popsize == 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cmaes: cmaes_popsize must be 0 (automatic) or >= 2, got ", options.cmaes_popsize));
  }
  return std::unique_ptr<Sampler>(new CmaEsSampler(options, ResolveSeed(options.seed)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "cmaes", &NewCmaEsSampler);

}  // namespace

}  // namespace mlcore::hpo::internal

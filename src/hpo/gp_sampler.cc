// Gaussian-process Bayesian optimisation: model the finished trials with a GP over the unit cube
// (space_encoding.h), then suggest the point of highest log expected improvement, found by
// scoring random candidates and refining the best few with a pattern search. Sample-efficient
// where each trial is expensive; the cost per ask grows as n^3 in the finished trials.
//
// Parallel trials: running trials enter the model as a lie (Ginsbourger et al. 2010), the
// worse of the GP's own prediction and the incumbent (the lowest posterior mean at a finished
// trial). The prediction alone (the "kriging believer") removes a pending point's variance but
// not the improvement the smooth mean promises there, so four parallel asks landed within 1%
// of each other; a lie at the mean of the finished trials spread them but also marked the good
// region itself as poor. Clipping at the incumbent removes exactly the promised improvement.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "hpo/builtin.h"
#include "hpo/gaussian_process.h"
#include "hpo/space_encoding.h"

namespace mlcore::hpo::internal {
namespace {

class GpSampler : public Sampler {
 public:
  GpSampler(const SamplerOptions& options, uint64_t seed) : options_(options), seed_(seed) {}
  std::string name() const override { return "gp"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    std::map<std::string, double> out;
    SpaceEncoding enc(IntersectionSpace(context), /*include_categorical=*/true);
    if (enc.empty()) return out;
    const int d = enc.size();
    const double sign = context.direction == StudyDirection::kMinimize ? 1.0 : -1.0;

    std::vector<double> x, y;
    std::vector<std::vector<double>> running;
    Gather(context, trial, enc, sign, &x, &y, &running);
    const int n = static_cast<int>(y.size());
    if (n < std::max(options_.n_startup_trials, 1)) return out;

    const int best_trial = Standardise(y);
    double best = y[best_trial];

    // Refit from the previous optimum: a few likelihood evaluations once the fit has settled.
    // Past 100 trials each evaluation costs O(n^3) and one more trial barely moves the
    // optimum, so the hyperparameters are refitted every n/50-th ask and reused in between.
    const std::vector<std::string> names = Names(enc);
    const bool fresh = names != fitted_names_;
    GaussianProcess gp;
    if (fresh || n <= 100 || ++asks_since_fit_ >= n / 50) {
      GpHyperparameters start = fresh ? GpHyperparameters::Default(d) : fitted_;
      int evaluations = fresh ? 60 : 25;
      if (n > 100) evaluations = fresh ? 20 : 8;
      gp.Fit(x, y, d, start, evaluations);
      fitted_ = gp.hyperparameters();
      fitted_names_ = names;
      asks_since_fit_ = 0;
    } else {
      gp.Condition(x, y, d, fitted_);
    }

    // The incumbent of the expected improvement is the lowest posterior mean at a finished
    // trial, not the lowest observation: with noise the lowest observation is mostly a lucky
    // draw, and improving on it sends the search after noise (noisy Hartmann6). Without noise
    // the two agree to the fitted noise's few thousandths.
    {
      std::vector<double> mu(n), v(n);
      gp.Predict(x.data(), n, mu.data(), v.data());
      const int k = static_cast<int>(std::min_element(mu.begin(), mu.end()) - mu.begin());
      best = mu[k];
    }

    if (!running.empty()) {
      // Each running point joins the data at max(prediction, incumbent): its variance goes and
      // so does any improvement the model promised there, so the next ask looks elsewhere;
      // a point predicted worse keeps its prediction. (The lie at the mean target used
      // before penalised the good region itself: four parallel workers on Rosenbrock 5-D
      // ended at 8.0 against 3.0 sequentially.)
      std::vector<double> flat;
      for (const auto& r : running) flat.insert(flat.end(), r.begin(), r.end());
      std::vector<double> mu(running.size()), v(running.size());
      gp.Predict(flat.data(), static_cast<int>(running.size()), mu.data(), v.data());
      for (double& m : mu) m = std::max(m, best);
      x.insert(x.end(), flat.begin(), flat.end());
      y.insert(y.end(), mu.begin(), mu.end());
      gp.Condition(x, y, d, fitted_);
    }

    std::mt19937_64 rng(TrialSeed(seed_, trial.number, "gp"));
    std::vector<double> chosen = Maximize(gp, enc, x, n, best_trial, best, rng);
    suggested_[trial.number] = chosen;
    // Forget suggestions of trials no longer running.
    for (auto it = suggested_.begin(); it != suggested_.end();) {
      it = it->first < trial.number - 4096 ? suggested_.erase(it) : std::next(it);
    }
    return enc.Decode(chosen.data());
  }

  StatusOr<double> SampleIndependent(const SamplerContext&, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    return SampleUniform(d, TrialSeed(seed_, trial.number, name));
  }

 private:
  // The finished trials' points (x, row after row) and signed targets (y, lower is better),
  // and with constant_liar the other running trials' points (read, or as this sampler
  // suggested them when their parameters are not written yet).
  void Gather(const SamplerContext& context, const FrozenTrial& trial, const SpaceEncoding& enc,
              double sign, std::vector<double>* x, std::vector<double>* y,
              std::vector<std::vector<double>>* running) const {
    const int d = enc.size();
    std::vector<double> point(d);
    for (const auto& t : context.trials) {
      if (t->state == TrialState::kComplete && t->has_value && std::isfinite(t->value)) {
        if (!enc.Encode(*t, point.data())) continue;
        x->insert(x->end(), point.begin(), point.end());
        y->push_back(sign * t->value);
      } else if (t->state == TrialState::kRunning && options_.constant_liar &&
                 t->number != trial.number) {
        if (enc.Encode(*t, point.data())) {
          running->push_back(point);
        } else if (auto it = suggested_.find(t->number);
                   it != suggested_.end() && static_cast<int>(it->second.size()) == d) {
          running->push_back(it->second);  // asked, parameters not yet written
        }
      }
    }
  }

  // Standardises the targets in place (mean 0, sample standard deviation 1); the index of the
  // lowest.
  static int Standardise(std::vector<double>& y) {
    const int n = static_cast<int>(y.size());
    double mean = 0, var = 0;
    for (double v : y) mean += v;
    mean /= n;
    for (double v : y) var += (v - mean) * (v - mean);
    const double sd = n > 1 && var > 0 ? std::sqrt(var / (n - 1)) : 1.0;
    double best = std::numeric_limits<double>::infinity();
    int best_trial = 0;
    for (int i = 0; i < n; ++i) {
      y[i] = (y[i] - mean) / sd;
      if (y[i] < best) best = y[i], best_trial = i;
    }
    return best_trial;
  }

  static std::vector<std::string> Names(const SpaceEncoding& enc) {
    std::vector<std::string> names;
    for (const auto& dim : enc.dims()) names.push_back(dim.name);
    return names;
  }

  // log EI of each point (points row after row), discounted where the point's latent
  // variance is below the fitted noise variance; writes into score. The discount is Huang et
  // al.'s (2006) augmentation factor 1 - sqrt(noise / (variance + noise)) taken relative to its
  // value at variance = noise, so it is 1 (no change) wherever the model is less sure of the
  // point than of one observation, and falls toward 0 as the point comes within the noise of
  // data already there. With noisy observations plain EI stays highest beside the incumbent
  // (its latent variance never reaches zero) and the late trials became near-copies of one
  // point, whose lowest noisy value the study then reports (noisy Hartmann6). The full factor
  // also discounted the refinement of noise-free problems whose fit puts model error into the
  // noise (Styblinski-Tang fits 0.014 of the standardised variance, noisy Hartmann6 0.004):
  // it cost Styblinski-Tang's 100-trial win and turned Rosenbrock at 30 trials into a loss.
  static void Score(const GaussianProcess& gp, const std::vector<double>& points, int d,
                    double best, std::vector<double>* score) {
    const int m = static_cast<int>(points.size()) / d;
    std::vector<double> mu(m), var(m);
    gp.Predict(points.data(), m, mu.data(), var.data());
    const double log_noise = gp.hyperparameters().log_noise_variance;
    const double noise = std::exp(log_noise);
    const double at_noise = LogNoiseAugmentation(noise, noise);
    // Only noise the fit found counts: a fit resting on the floor found none (the floor is
    // jitter), and discounting within it stopped the refinement of noise-free optima (Branin
    // 0.3982 against Optuna's 0.3979 on every seed: the last steps need latent variances far
    // below 1e-6 of the standardised variance). A fit just above the floor keeps the discount
    // (a threshold at ten times the floor also turned it off on the SVM problem, whose
    // cross-validation plateaus gain from it: 100-trial default 1.914 with, 1.923 without).
    const bool found_noise = log_noise > kGpMinLogNoise + 0.01;
    score->resize(m);
    for (int i = 0; i < m; ++i) {
      (*score)[i] = LogExpectedImprovement(mu[i], std::sqrt(var[i]), best);
      if (found_noise) {
        (*score)[i] += std::min(LogNoiseAugmentation(var[i], noise) - at_noise, 0.0);
      }
    }
  }

  // One dimension of `p` drawn uniformly: a category (one-hot) or a point of [0, 1].
  static void DrawDim(const SpaceEncoding::Dim& dim, std::mt19937_64& rng, double* p) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (dim.one_hot) {
      int c = std::min(static_cast<int>(u(rng) * dim.width), dim.width - 1);
      for (int k = 0; k < dim.width; ++k) p[dim.offset + k] = k == c ? 1.0 : 0.0;
    } else {
      p[dim.offset] = u(rng);
    }
  }

  void RandomPoint(const SpaceEncoding& enc, std::mt19937_64& rng, double* p) const {
    for (const auto& dim : enc.dims()) DrawDim(dim, rng, p);
    enc.Snap(p);
  }

  // The random candidates of one ask (m rows of d): three quarters uniform over the cube, a
  // quarter from the best trials so far: half of those a small Gaussian step away, half with one
  // or two parameters redrawn over their whole range (a subspace move: on Styblinski-Tang 5-D a
  // local minimum differs from the global one in single coordinates, a jump no small step and
  // few uniform points make). `order` lists the finished trials, the five of lowest posterior
  // mean first.
  std::vector<double> Candidates(const SpaceEncoding& enc, const std::vector<double>& x, int m,
                                 const std::vector<int>& order, std::mt19937_64& rng) const {
    const int d = enc.size();
    const int n_best = std::min(5, static_cast<int>(order.size()));
    std::vector<double> cand(static_cast<size_t>(m) * d);
    const int n_local = m / 4;
    for (int i = 0; i < m - n_local; ++i) RandomPoint(enc, rng, cand.data() + i * d);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int i = 0; i < n_local; ++i) {
      double* p = cand.data() + (m - n_local + i) * d;
      const double* center = x.data() + order[i % n_best] * d;
      const double scale = 0.02 + 0.1 * u(rng);
      for (int k = 0; k < d; ++k) p[k] = center[k] + scale * normal(rng);
      for (const auto& dim : enc.dims()) {
        if (dim.one_hot && u(rng) < 0.2) DrawDim(dim, rng, p);
      }
      if (i % 2 == 1) {
        for (int k = 0; k < d; ++k) p[k] = center[k];
        const int nd = static_cast<int>(enc.dims().size());
        const int redraw = 1 + (u(rng) < 0.5);
        for (int r = 0; r < redraw; ++r) {
          DrawDim(enc.dims()[std::min(static_cast<int>(u(rng) * nd), nd - 1)], rng, p);
        }
      }
      enc.Snap(p);
    }
    return cand;
  }

  // The candidates the local searches start from: the best three by score, then up to four
  // drawn among the others with probability exp(score - best) (Optuna's roulette): the best
  // three are often in one basin; these reach others.
  static std::vector<int> SearchStarts(const std::vector<double>& score, std::mt19937_64& rng) {
    const int m = static_cast<int>(score.size());
    std::vector<int> idx(m);
    for (int i = 0; i < m; ++i) idx[i] = i;
    int starts = std::min(3, m);
    std::partial_sort(idx.begin(), idx.begin() + starts, idx.end(),
                      [&](int a, int b) { return score[a] > score[b]; });
    std::vector<double> w(m);
    const double top = score[idx[0]];
    for (int i = 0; i < m; ++i) w[i] = std::isfinite(score[i]) ? std::exp(score[i] - top) : 0;
    for (int s = 0; s < starts; ++s) w[idx[s]] = 0;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int e = 0; e < 4; ++e) {
      double total = 0;
      for (double v : w) total += v;
      if (!(total > 0)) break;
      double r = u(rng) * total;
      int pick = 0;
      for (; pick < m - 1 && r > w[pick]; ++pick) r -= w[pick];
      if (w[pick] == 0) break;  // rounding ran past the last weight
      w[pick] = 0;
      idx[starts++] = pick;
    }
    idx.resize(starts);
    return idx;
  }

  // The moves of one pattern-search iteration from `at`: each other choice of a one-hot
  // parameter, and each numeric coordinate `step` down and up (at least one grid cell for int
  // parameters). `coordinate` gets per move (offset, new value), or -1 for a one-hot move.
  static std::vector<double> Moves(const SpaceEncoding& enc, const std::vector<double>& at,
                                   double step, std::vector<std::pair<int, double>>* coordinate) {
    const int d = enc.size();
    std::vector<double> moves;
    for (const auto& dim : enc.dims()) {
      if (dim.one_hot) {
        for (int c = 0; c < dim.width; ++c) {
          if (at[dim.offset + c] == 1.0) continue;
          moves.insert(moves.end(), at.begin(), at.end());
          double* p = moves.data() + moves.size() - d;
          for (int k = 0; k < dim.width; ++k) p[dim.offset + k] = k == c ? 1.0 : 0.0;
          coordinate->emplace_back(-1, 0.0);
        }
        continue;
      }
      double delta = step;
      if (std::optional<int64_t> cells = dim.distribution.size(); cells.has_value()) {
        delta = std::max(step, 1.0 / static_cast<double>(*cells));
      }
      for (double sgn : {-1.0, 1.0}) {
        moves.insert(moves.end(), at.begin(), at.end());
        double* p = moves.data() + moves.size() - d;
        p[dim.offset] += sgn * delta;
        enc.Snap(p);
        coordinate->emplace_back(dim.offset, p[dim.offset]);
      }
    }
    return moves;
  }

  // The point that takes every numeric coordinate's improving move at once (a coordinate
  // search moves one coordinate per iteration, too slow in 15 dimensions); nullopt when fewer
  // than two coordinates improve on `at_score`.
  static std::optional<std::vector<double>> JointMove(
      const SpaceEncoding& enc, const std::vector<double>& at, double at_score,
      const std::vector<std::pair<int, double>>& coordinate,
      const std::vector<double>& move_score) {
    std::map<int, std::pair<double, double>> step_of;  // offset -> (score, value)
    for (size_t i = 0; i < coordinate.size(); ++i) {
      if (coordinate[i].first < 0 || !(move_score[i] > at_score + 1e-12)) continue;
      auto [it, fresh_offset] =
          step_of.try_emplace(coordinate[i].first, move_score[i], coordinate[i].second);
      if (!fresh_offset && move_score[i] > it->second.first) {
        it->second = {move_score[i], coordinate[i].second};
      }
    }
    if (step_of.size() < 2) return std::nullopt;
    std::vector<double> joint = at;
    for (const auto& [offset, sv] : step_of) joint[offset] = sv.second;
    enc.Snap(joint.data());
    return joint;
  }

  // A pattern search from `at` (coordinate moves with step halving, plus the joint move) for
  // at most `max_iterations`; `at` and `at_score` end at the best point it reached.
  static void PatternSearch(const GaussianProcess& gp, const SpaceEncoding& enc, double best,
                            int max_iterations, std::vector<double>& at, double& at_score) {
    const int d = enc.size();
    double step = 0.05;
    for (int iter = 0; iter < max_iterations && step > 1e-3; ++iter) {
      std::vector<std::pair<int, double>> coordinate;
      std::vector<double> moves = Moves(enc, at, step, &coordinate);
      if (moves.empty()) break;
      std::vector<double> move_score;
      Score(gp, moves, d, best, &move_score);
      const int k = static_cast<int>(std::max_element(move_score.begin(), move_score.end()) -
                                     move_score.begin());
      if (std::optional<std::vector<double>> joint =
              JointMove(enc, at, at_score, coordinate, move_score)) {
        std::vector<double> joint_score;
        Score(gp, *joint, d, best, &joint_score);
        if (joint_score[0] > move_score[k] && joint_score[0] > at_score + 1e-12) {
          at = *std::move(joint);
          at_score = joint_score[0];
          continue;
        }
      }
      if (move_score[k] > at_score + 1e-12) {
        at.assign(moves.begin() + k * d, moves.begin() + k * d + d);
        at_score = move_score[k];
      } else {
        step /= 2;
      }
    }
  }

  // The point of highest acquisition: scored random candidates, then pattern searches from the
  // best candidates, roulette picks, the best trial and the three trials of lowest posterior
  // mean (as Optuna's GPSampler warm-starts its local searches at the best trials: the
  // acquisition's optimum is often a small step from the incumbent, which random candidates
  // rarely land on). best_trial: the index in x of the finished trial with the lowest target.
  std::vector<double> Maximize(const GaussianProcess& gp, const SpaceEncoding& enc,
                               const std::vector<double>& x, int n_finished, int best_trial,
                               double best, std::mt19937_64& rng) const {
    const int d = enc.size();
    // Scoring costs O(n^2) per candidate: past 200 trials fewer random candidates are scored
    // (the local refinement, not their number, finds the optimum's digits).
    int m = options_.gp_n_candidates;
    if (n_finished > 200) m = static_cast<int>(m * 200.0 / n_finished);
    m = std::max(m, 16);
    // The finished trials, the five the model predicts best first.
    std::vector<int> order(n_finished);
    for (int i = 0; i < n_finished; ++i) order[i] = i;
    std::vector<double> mu(n_finished), var(n_finished);
    gp.Predict(x.data(), n_finished, mu.data(), var.data());
    std::partial_sort(order.begin(), order.begin() + std::min(5, n_finished), order.end(),
                      [&](int a, int b) { return mu[a] < mu[b]; });
    const std::vector<double> cand = Candidates(enc, x, m, order, rng);
    std::vector<double> score;
    Score(gp, cand, d, best, &score);

    const std::vector<int> idx = SearchStarts(score, rng);
    std::vector<double> best_point(cand.begin() + idx[0] * d, cand.begin() + idx[0] * d + d);
    double best_score = score[idx[0]];
    std::vector<std::vector<double>> start_points;
    std::vector<double> start_scores;
    for (int i : idx) {
      start_points.emplace_back(cand.begin() + i * d, cand.begin() + i * d + d);
      start_scores.push_back(score[i]);
    }
    // The trials: the best observed one and the three best by the model's mean (with noise the
    // two differ).
    std::vector<int> trial_starts = {best_trial};
    for (int i = 0; i < std::min(3, n_finished); ++i) {
      if (order[i] != best_trial) trial_starts.push_back(order[i]);
    }
    std::vector<double> trial_points;
    for (int t : trial_starts) {
      start_points.emplace_back(x.begin() + t * d, x.begin() + t * d + d);
      trial_points.insert(trial_points.end(), x.begin() + t * d, x.begin() + t * d + d);
    }
    std::vector<double> trial_scores;
    Score(gp, trial_points, d, best, &trial_scores);
    start_scores.insert(start_scores.end(), trial_scores.begin(), trial_scores.end());
    // Each iteration scores about 2 d moves at O(n^2) each: past 150 trials the search keeps
    // its old 12 iterations so the ask stays within its time budget.
    const int max_iterations = n_finished <= 150 ? 12 + 2 * d : 12;
    for (size_t s = 0; s < start_points.size(); ++s) {
      std::vector<double> at = start_points[s];
      double at_score = start_scores[s];
      PatternSearch(gp, enc, best, max_iterations, at, at_score);
      if (at_score > best_score) {
        best_score = at_score;
        best_point = at;
      }
    }
    return best_point;
  }

  SamplerOptions options_;
  uint64_t seed_;
  // Samplers are called under the study's sampler lock: no lock of their own.
  GpHyperparameters fitted_;
  std::vector<std::string> fitted_names_;
  int asks_since_fit_ = 0;
  std::map<int64_t, std::vector<double>> suggested_;  // trial number -> its point
};

StatusOr<std::unique_ptr<Sampler>> NewGpSampler(const SamplerOptions& options) {
  if (options.gp_n_candidates < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("gp: gp_n_candidates must be >= 1, got ", options.gp_n_candidates));
  }
  return std::unique_ptr<Sampler>(new GpSampler(options, ResolveSeed(options.seed)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "gp", &NewGpSampler);

}  // namespace

}  // namespace mlcore::hpo::internal

// The built-in pruners, registered by name here. Each decides from the stored intermediate values
// alone (no pruner state), so workers in several processes make the same decisions.
#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "mlcore/hpo/pruner.h"

namespace mlcore::hpo {
namespace {

// Katib's medianstop / Optuna's MedianPruner: stop a trial whose best value so far is worse
// than the median of the completed trials' values at the same step.
class MedianPruner : public Pruner {
 public:
  explicit MedianPruner(PrunerOptions o) : o_(o) {}
  std::string name() const override { return "median"; }
  StatusOr<bool> Prune(const PrunerContext& context, const FrozenTrial& trial) override {
    auto last = trial.LastIntermediate();
    if (!last.has_value()) return false;
    const int64_t step = last->first;
    if (step < o_.start_step) return false;
    double best = std::nan("");
    for (const auto& [s, v] : trial.intermediate_values) {
      if (std::isnan(v)) continue;
      if (std::isnan(best) || IsBetter(context.direction, v, best)) best = v;
    }
    if (std::isnan(best)) return true;  // only NaNs reported: hopeless
    std::vector<double> others;
    for (const auto& t : context.trials) {
      if (t->state != TrialState::kComplete || t->number == trial.number) continue;
      auto it = t->intermediate_values.find(step);
      if (it != t->intermediate_values.end() && !std::isnan(it->second)) {
        others.push_back(it->second);
      }
    }
    if (static_cast<int>(others.size()) < std::max(o_.min_trials_required, 1)) return false;
    std::sort(others.begin(), others.end());
    size_t n = others.size();
    double median = n % 2 == 1 ? others[n / 2] : (others[n / 2 - 1] + others[n / 2]) / 2;
    return IsBetter(context.direction, median, best);
  }

 private:
  PrunerOptions o_;
};

// Asynchronous successive halving (ASHA): rung k sits at step min_resource * eta^(rate + k). When
// a trial first reports at or past a rung, it goes on only if it is in the top 1/eta of all
// trials that reached that rung so far (the first few of a rung go on when they lead).
class SuccessiveHalvingPruner : public Pruner {
 public:
  explicit SuccessiveHalvingPruner(PrunerOptions o) : o_(o) {}
  std::string name() const override { return "successive_halving"; }

  StatusOr<bool> Prune(const PrunerContext& context, const FrozenTrial& trial) override {
    return PruneAmong(context, trial, o_.min_early_stopping_rate,
                      [](const FrozenTrial&) { return true; });
  }

  // Shared with Hyperband, which runs one halving per bracket over its own trials.
  template <typename Filter>
  StatusOr<bool> PruneAmong(const PrunerContext& context, const FrozenTrial& trial, int rate,
                            Filter&& same_bracket) const {
    auto last = trial.LastIntermediate();
    if (!last.has_value()) return false;
    const int64_t step = last->first;
    // The highest rung at or below the current step.
    int rung = -1;
    for (int k = 0;; ++k) {
      double rung_step = RungStep(rate, k);
      if (rung_step > static_cast<double>(step)) break;
      rung = k;
      if (k > 60) break;
    }
    if (rung < 0) return false;
    const int64_t rung_step = static_cast<int64_t>(RungStep(rate, rung));
    // Decide once per rung: at the first report that reached it.
    auto first = trial.intermediate_values.lower_bound(rung_step);
    if (first == trial.intermediate_values.end() || first->first != step) return false;
    double value = first->second;
    if (std::isnan(value)) return true;
    std::vector<double> competing = {value};
    for (const auto& t : context.trials) {
      if (t->number == trial.number || !same_bracket(*t)) continue;
      auto it = t->intermediate_values.lower_bound(rung_step);
      if (it == t->intermediate_values.end() || std::isnan(it->second)) continue;
      competing.push_back(it->second);
    }
    int64_t promotable = static_cast<int64_t>(competing.size()) / o_.reduction_factor - 1;
    if (promotable < 0) promotable = 0;
    std::sort(competing.begin(), competing.end());
    if (context.direction == StudyDirection::kMaximize) {
      return value < competing[competing.size() - 1 - static_cast<size_t>(promotable)];
    }
    return value > competing[static_cast<size_t>(promotable)];
  }

 private:
  double RungStep(int rate, int k) const {
    return static_cast<double>(o_.min_resource) * std::pow(o_.reduction_factor, rate + k);
  }
  PrunerOptions o_;
};

// Hyperband: several successive halvings (brackets) that differ in how early they start
// stopping trials, so a budget bet on early stopping is hedged. Trials go to brackets by
// number, in proportion to each bracket's budget.
class HyperbandPruner : public Pruner {
 public:
  explicit HyperbandPruner(PrunerOptions o) : o_(o), halving_(o) {
    int n_brackets = 1;
    while (static_cast<double>(o.min_resource) * std::pow(o.reduction_factor, n_brackets) <=
           static_cast<double>(o.max_resource)) {
      ++n_brackets;
    }
    // The bracket that stops earliest (rate 0) gets the most trials: in the paper's synchronous
    // form, bracket s = n_brackets - 1 - rate starts (n_brackets / (s + 1)) * eta^s trials.
    double total = 0;
    for (int rate = 0; rate < n_brackets; ++rate) {
      int s = n_brackets - 1 - rate;
      double budget =
          std::ceil(static_cast<double>(n_brackets) / (s + 1) * std::pow(o.reduction_factor, s));
      budgets_.push_back(budget);
      total += budget;
    }
    for (double& b : budgets_) b /= total;
  }
  std::string name() const override { return "hyperband"; }

  int Bracket(int64_t number) const {
    // A low-discrepancy walk over the budget shares: deterministic and balanced.
    double u = std::fmod(static_cast<double>(number) * 0.6180339887498949, 1.0);
    double acc = 0;
    for (size_t s = 0; s < budgets_.size(); ++s) {
      acc += budgets_[s];
      if (u < acc) return static_cast<int>(s);
    }
    return static_cast<int>(budgets_.size()) - 1;
  }

  StatusOr<bool> Prune(const PrunerContext& context, const FrozenTrial& trial) override {
    int bracket = Bracket(trial.number);
    return halving_.PruneAmong(context, trial, bracket,
                               [&](const FrozenTrial& t) { return Bracket(t.number) == bracket; });
  }

 private:
  PrunerOptions o_;
  SuccessiveHalvingPruner halving_;
  std::vector<double> budgets_;
};

Status CheckHalving(const PrunerOptions& o) {
  if (o.reduction_factor < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("reduction_factor must be >= 2, got ", o.reduction_factor));
  }
  if (o.min_resource < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_resource must be >= 1, got ", o.min_resource));
  }
  if (o.min_early_stopping_rate < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_early_stopping_rate must be >= 0, got ", o.min_early_stopping_rate));
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<Pruner>> NewMedianPruner(const PrunerOptions& o) {
  if (o.min_trials_required < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("median: min_trials_required must be >= 1, got ", o.min_trials_required));
  }
  if (o.start_step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("median: start_step must be >= 0, got ", o.start_step));
  }
  return std::unique_ptr<Pruner>(new MedianPruner(o));
}

StatusOr<std::unique_ptr<Pruner>> NewSuccessiveHalvingPruner(const PrunerOptions& o) {
  MLCORE_RETURN_IF_ERROR(CheckHalving(o));
  return std::unique_ptr<Pruner>(new SuccessiveHalvingPruner(o));
}

StatusOr<std::unique_ptr<Pruner>> NewHyperbandPruner(const PrunerOptions& o) {
  MLCORE_RETURN_IF_ERROR(CheckHalving(o));
  if (o.max_resource < o.min_resource) {
    return absl::InvalidArgumentError(absl::StrCat("hyperband: max_resource ", o.max_resource,
                                                   " < min_resource ", o.min_resource));
  }
  return std::unique_ptr<Pruner>(new HyperbandPruner(o));
}

// No pruning, under the name users write for it; CreatePruner("") means the same.
StatusOr<std::unique_ptr<Pruner>> NewNoPruner(const PrunerOptions&) {
  return std::unique_ptr<Pruner>();
}

Registrar<PrunerFactory> none_registration(PrunerRegistry(), "none", &NewNoPruner);
Registrar<PrunerFactory> median_registration(PrunerRegistry(), "median", &NewMedianPruner);
Registrar<PrunerFactory> halving_registration(PrunerRegistry(), "successive_halving",
                                              &NewSuccessiveHalvingPruner);
Registrar<PrunerFactory> hyperband_registration(PrunerRegistry(), "hyperband", &NewHyperbandPruner);

}  // namespace

Registry<PrunerFactory>& PrunerRegistry() {
  static auto* registry = new Registry<PrunerFactory>("pruner");
  return *registry;
}

Status RegisterPruner(const std::string& name, PrunerFactory factory) {
  if (name.empty()) {
    return absl::AlreadyExistsError("the pruner name '' is taken: it means no pruning");
  }
  return PrunerRegistry().Register(name, std::move(factory));
}

StatusOr<std::unique_ptr<Pruner>> CreatePruner(const std::string& name,
                                               const PrunerOptions& options) {
  if (name.empty()) return std::unique_ptr<Pruner>();
  return PrunerRegistry().Create(name, options);
}

std::vector<std::string> PrunerNames() { return PrunerRegistry().Names(); }

}  // namespace mlcore::hpo

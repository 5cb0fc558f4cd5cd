// "auto", the default sampler: picks, at each ask, the built-in sampler that suits the study
// as it stands (the rule of Optuna's AutoSampler, measured on mlcore's own samplers in
// docs/hpo_samplers.md):
//   - several objectives: NSGA-II;
//   - a conditional space (finished trials that do not share one set of parameters) or one
//     where most parameters are categorical: TPE, whose per-parameter densities handle both;
//     a conditional parameter asked after categorical choices only (a branch) comes from a GP
//     over the finished trials of the same branch once it has kBranchStartup of them;
//   - otherwise the GP (its start-up trials from the Sobol sequence) while fewer than kGpMaxTrials
//   trials are finished (it finds better
//     optima per trial, and its ask stays cheap while the trials are few), then TPE, whose ask
//     does not grow as n^3 and which starts from everything the GP found.
// Every sampler it holds keeps its own state; one trial's suggestions all come from the sampler
// chosen at its first suggestion.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "hpo/builtin.h"
#include "hpo/space_encoding.h"

namespace mlcore::hpo::internal {
namespace {

// Finished trials past which the GP gives way to TPE: a GP ask costs ~25 ms at 250 trials on
// one core and grows as n^3, and by then the TPE density has enough good trials to be sharp.
constexpr int kGpMaxTrials = 250;
// Finished trials of a branch of a conditional space before its GP takes over from TPE. At 5 the
// first branch to reach them was optimised so fast that its trials filled TPE's good group and
// TPE stopped choosing the others (2 of 20 seeds of the conditional problem ended in the
// 0.15 branch at 100 trials); at 10 every branch has been tried before any is exploited.
constexpr int kBranchStartup = 10;

class AutoSampler : public Sampler {
 public:
  AutoSampler(std::unique_ptr<Sampler> tpe, std::unique_ptr<Sampler> gp,
              std::unique_ptr<Sampler> nsga2, std::unique_ptr<Sampler> sobol, int n_startup,
              std::unique_ptr<Sampler> branch_gp)
      : n_startup_(n_startup),
        branch_gp_(std::move(branch_gp)),
        tpe_(std::move(tpe)),
        gp_(std::move(gp)),
        nsga2_(std::move(nsga2)),
        sobol_(std::move(sobol)) {}
  std::string name() const override { return "auto"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    Sampler* s = Choose(context);
    chosen_[trial.number] = s;
    // Forget the choices of trials long finished (a trial asks for all its parameters soon).
    while (!chosen_.empty() && chosen_.begin()->first < trial.number - 4096) {
      chosen_.erase(chosen_.begin());
    }
    return s->SampleRelative(context, trial);
  }

  StatusOr<double> SampleIndependent(const SamplerContext& context, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    auto it = chosen_.find(trial.number);
    Sampler* s = it != chosen_.end() ? it->second : Choose(context);
    if (s == tpe_.get()) {
      if (std::optional<double> v = BranchGp(context, trial, name, d); v.has_value()) return *v;
    }
    return s->SampleIndependent(context, trial, name, d);
  }

 private:
  // A parameter outside the shared space (a conditional one), in a single-objective study whose
  // trial so far holds only categorical choices (the branch): the GP over the finished trials
  // of the same branch, with the branch's choices left out of its space. Nullopt where the
  // branch has too few trials, or the trial holds numeric values (no trial shares them).
  std::optional<double> BranchGp(const SamplerContext& context, const FrozenTrial& trial,
                                 const std::string& name, const Distribution& d) {
    if (context.directions.size() > 1) return std::nullopt;
    for (const auto& [p, dist] : trial.distributions) {
      if (dist.type() != ParamType::kCategorical) return std::nullopt;
    }
    auto cached = branch_.find(trial.number);
    if (cached == branch_.end() || cached->second.first != trial.params) {
      TrialList branch;
      int finished = 0, complete = 0;
      for (const auto& t : context.trials) {
        finished += t->state == TrialState::kComplete;
        if (t->number == trial.number) continue;
        if (t->state != TrialState::kComplete && t->state != TrialState::kRunning) continue;
        bool same = true;
        for (const auto& [p, v] : trial.params) {
          auto at = t->params.find(p);
          same = same && at != t->params.end() && at->second == v;
        }
        if (!same) continue;
        if (t->state == TrialState::kComplete) {
          auto dist = t->distributions.find(name);
          if (dist == t->distributions.end() || dist->second != d) continue;
          ++complete;
        }
        auto copy = std::make_shared<FrozenTrial>(*t);
        for (const auto& [p, v] : trial.params) copy->params.erase(p), copy->distributions.erase(p);
        branch.push_back(std::move(copy));
      }
      if (finished >= kGpMaxTrials || complete < kBranchStartup) return std::nullopt;
      SamplerContext sub = context;
      sub.trials = std::move(branch);
      sub.declared_space = nullptr;
      StatusOr<std::map<std::string, double>> rel = branch_gp_->SampleRelative(sub, trial);
      if (!rel.ok()) return std::nullopt;
      branch_[trial.number] = {trial.params, *std::move(rel)};
      while (!branch_.empty() && branch_.begin()->first < trial.number - 4096) {
        branch_.erase(branch_.begin());
      }
      cached = branch_.find(trial.number);
    }
    auto v = cached->second.second.find(name);
    if (v == cached->second.second.end()) return std::nullopt;
    return v->second;
  }

  Sampler* Choose(const SamplerContext& context) const {
    if (context.directions.size() > 1) return nsga2_.get();
    int finished = 0;
    std::set<std::string> all;
    for (const auto& t : context.trials) {
      if (t->state != TrialState::kComplete) continue;
      ++finished;
      for (const auto& [name, d] : t->distributions) all.insert(name);
    }
    if (finished >= kGpMaxTrials) return tpe_.get();
    const std::vector<std::pair<std::string, Distribution>> shared = IntersectionSpace(context);
    // Parameters outside the shared space: the GP would sample them at random.
    if (shared.size() < all.size()) return tpe_.get();
    size_t categorical = 0;
    for (const auto& [name, d] : shared) categorical += d.type() == ParamType::kCategorical;
    if (2 * categorical > shared.size()) return tpe_.get();
    // The GP's start-up trials come from the scrambled Sobol sequence, not at random: they
    // cover the cube evenly, so the model sees every region before it commits to a basin
    // (Hartmann6 at 100 trials: 6 of 20 seeds ended in a local minimum with random start-up
    // points, 2 with Sobol points).
    if (finished < n_startup_) return sobol_.get();
    return gp_.get();
  }

  const int n_startup_;  // the GP's start-up trials, drawn by sobol_
  std::unique_ptr<Sampler> branch_gp_;
  // trial number -> (its choices when asked, the branch GP's suggestion)
  std::map<int64_t, std::pair<std::map<std::string, ParamValue>, std::map<std::string, double>>>
      branch_;
  std::unique_ptr<Sampler> tpe_, gp_, nsga2_, sobol_;
  // Samplers are called under the study's sampler lock: no lock of their own.
  std::map<int64_t, Sampler*> chosen_;  // trial number -> the sampler of its suggestions
};

StatusOr<std::unique_ptr<Sampler>> NewAutoSampler(const SamplerOptions& options) {
  SamplerOptions o = options;
  o.seed = ResolveSeed(options.seed);  // one seed for the three, random or given
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> tpe, CreateSampler("tpe", o));
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> gp, CreateSampler("gp", o));
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> nsga2, CreateSampler("nsga2", o));
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> sobol, CreateSampler("sobol", o));
  SamplerOptions branch = o;
  branch.n_startup_trials = kBranchStartup;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> branch_gp, CreateSampler("gp", branch));
  return std::unique_ptr<Sampler>(new AutoSampler(std::move(tpe), std::move(gp), std::move(nsga2),
                                                  std::move(sobol), options.n_startup_trials,
                                                  std::move(branch_gp)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "auto", &NewAutoSampler);

}  // namespace
}  // namespace mlcore::hpo::internal

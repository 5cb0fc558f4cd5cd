// Samplers choose the next parameters from the trials so far. One interface, many algorithms
// (random, grid, TPE...), built by name from a registry so users name algorithms rather than
// classes, and a new sampler (C++ or Python) is one new class.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

class Storage;

// What a sampler sees: the study's direction and a snapshot of its trials taken when the trial
// was asked (running ones included, so parallel-aware samplers can avoid them).
struct SamplerContext {
  StudyDirection direction = StudyDirection::kMinimize;
  // Every objective's direction (FrozenTrial::values follow it); {direction} for one objective.
  std::vector<StudyDirection> directions = {StudyDirection::kMinimize};
  TrialList trials;
  // The study's declared search space; empty for define-by-run studies.
  const SearchSpace* declared_space = nullptr;
  // The study's storage and id, for samplers that keep their state with the study
  // (Storage::SetStudySystemAttr) so a study loaded by a later process continues where it was;
  // null for a context built outside a study.
  Storage* storage = nullptr;
  int64_t study_id = -1;
};

// Options for the built-in samplers; each reads the fields it knows and ignores the rest.
struct SamplerOptions {
  // Seed of every random choice. Equal seeds and equal trial histories give equal suggestions;
  // each trial's random stream is derived from (seed, trial number), so suggestions do not
  // depend on which thread asks first. Empty: a random seed.
  std::optional<uint64_t> seed;

  // TPE: random trials before the model is used. More explores better, fewer exploits sooner.
  int n_startup_trials = 10;
  // TPE: candidates drawn from the good-trial density per suggestion; more candidates sharpen
  // the acquisition at a linear cost in time per ask.
  int n_ei_candidates = 24;
  // TPE: model the parameters every complete trial shares jointly (captures interactions)
  // rather than one density per parameter; parameters outside that shared space are sampled
  // one by one. Joint modelling found better optima on all six benchmark functions.
  bool multivariate = true;
  // TPE: treat running trials as if they had the worst value, so parallel workers spread out
  // instead of asking for the same point. No effect on sequential studies.
  bool constant_liar = true;
  // TPE: weight of the uniform prior component in each density.
  double prior_weight = 1.0;
  // TPE: fraction of finished trials taken as "good" (capped at 25 trials, as in the paper).
  double gamma = 0.10;

  // Grid: the grid. Empty: the study's declared search space. Floats need a step.
  std::optional<SearchSpace> grid;

  // The GP sampler also reads n_startup_trials (random trials before the model is used) and
  // constant_liar (running trials enter the model at the worse of its own prediction and the
  // mean of the finished trials, so parallel asks spread out). GP: random candidates scored by the
  // acquisition per ask before the best three are refined; more find sharper optima at a linear
  // cost in time per ask.
  int gp_n_candidates = 1024;

  // CMA-ES: initial step size in the unit cube the parameters are scaled to.
  double cmaes_sigma0 = 1.0 / 6;  // as Optuna's CmaEsSampler (a sixth of the narrowest range)
  // CMA-ES: population of the first run; 0 means 4 + floor(3 ln(dimensions)).
  int cmaes_popsize = 0;
  // CMA-ES: restart with a doubled population when a run converges or stalls (IPOP-CMA-ES);
  // false keeps the one run going, which only polishes its optimum.
  bool cmaes_restarts = true;

  // Sobol: scramble the sequence (random linear matrix scrambling plus a random digital shift,
  // derived from the seed); an unscrambled sequence is the same for every seed.
  bool sobol_scramble = true;

  // NSGA-II ("nsga2"), as Nsga2Options (nsga2_sampler.h): individuals per generation (>= 2),
  // the probability that two parents are crossed, and the per-parameter mutation probability
  // (empty: 1 / the number of parameters). Each probability in [0, 1].
  int nsga2_population_size = 50;
  double nsga2_crossover_prob = 0.9;
  std::optional<double> nsga2_mutation_prob;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::string name() const = 0;

  // Called once per trial before its first suggestion: samplers that model parameters jointly
  // return internal values for the parameters they can decide now (those of
  // RelativeSearchSpace). The default decides nothing.
  virtual StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                                 const FrozenTrial& trial);

  // One parameter not decided by SampleRelative: returns its internal value (see Distribution).
  virtual StatusOr<double> SampleIndependent(const SamplerContext& context,
                                             const FrozenTrial& trial, const std::string& name,
                                             const Distribution& distribution) = 0;

  // True when the sampler has nothing new left to suggest (a grid fully used); optimize stops.
  virtual bool Exhausted(const SamplerContext& context) { return false; }

  // False when the sampler never reads SamplerContext::trials (random sampling): the study then
  // hands it an empty list instead of reading the study's trials at every ask, a cost that
  // grows with the study (10,000 trials: a tenth of the time of a SQLite-backed loop).
  virtual bool UsesTrials() const { return true; }
};

using SamplerFactory = std::function<StatusOr<std::unique_ptr<Sampler>>(const SamplerOptions&)>;

// The samplers by name ("sampler" in messages). Built-ins register themselves from their own
// files; a C++ sampler can do the same with a static Registrar<SamplerFactory>.
Registry<SamplerFactory>& SamplerRegistry();

// Adds a sampler under `name` (lowercase). AlreadyExists when the name is taken.
Status RegisterSampler(const std::string& name, SamplerFactory factory);
// Builds the sampler registered as `name`: "random", "grid", "tpe", "gp", "cmaes", "sobol",
// "nsga2" (see docs/hpo.md).
// InvalidArgument naming the known samplers when `name` is unknown.
StatusOr<std::unique_ptr<Sampler>> CreateSampler(const std::string& name,
                                                 const SamplerOptions& options = {});
std::vector<std::string> SamplerNames();

// The random stream of one trial: a hash of (seed, trial number, salt). Exposed so user
// samplers can be reproducible the same way as the built-in ones.
uint64_t TrialSeed(uint64_t seed, int64_t trial_number, std::string_view salt = "");

}  // namespace mlcore::hpo

// A study: a named search for the best parameters of one objective, with a sampler, an optional
// pruner and a storage. Driven by ask/tell from any loop, or by Optimize, which runs the
// objective on parallel threads until a stop condition. A failure of the objective fails its
// trial; Optimize then stops with it unless told to catch it (OptimizeOptions::catch_error).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/pruner.h"
#include "mlcore/hpo/resources.h"
#include "mlcore/hpo/sampler.h"
#include "mlcore/hpo/storage.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

struct StudyOptions {
  // Empty: a generated unique name ("study-<time>-<random>").
  std::string name;
  StudyDirection direction = StudyDirection::kMinimize;
  // Two or more: a multi-objective study, one direction per objective (overrides `direction`).
  // Its trials carry one value per objective and it has a Pareto front (BestTrials) rather than
  // a best trial. Multi-objective studies take no pruner and need a sampler that handles several
  // objectives: "nsga2", "random", "grid", "sobol" or a Python sampler.
  std::vector<StudyDirection> directions;

  // The sampler by name ("auto", "tpe", "gp", "random", "grid"...), built with sampler_options;
  // or an object, which wins when set. "auto" picks GP, TPE or NSGA-II for the space and the
  // trials so far (docs/hpo_samplers.md).
  std::string sampler = "auto";
  SamplerOptions sampler_options;
  std::shared_ptr<Sampler> sampler_object;

  // The pruner by name ("none", "median", "successive_halving", "hyperband"); or an object.
  std::string pruner = "none";
  PrunerOptions pruner_options;
  std::shared_ptr<Pruner> pruner_object;

  // Where trials live (see OpenStorage): "" means in memory when `name` is empty and the default
  // SQLite store when a name is given, so a named study survives its process.
  std::string storage;
  std::shared_ptr<Storage> storage_object;
  // The busy timeout of a SQLite storage opened from `storage` (see
  // SqliteStorageOptions::busy_timeout; same 30 s default); negative is InvalidArgument. Unused,
  // and not checked, with storage_object, whose opener chose its own.
  absl::Duration busy_timeout = absl::Seconds(30);

  // Create: open the existing study of that name instead of failing with AlreadyExists.
  bool load_if_exists = false;
  // On load, what to do with trials left running by dead processes: false marks them failed,
  // true re-queues them (same parameters, run again by the next worker).
  bool requeue_stale_trials = false;
  // On load, look for such trials at all. false leaves every trial as it is stored: reading
  // commands (`mlcore hpo show`) must never change a study, or a show between a kill and a
  // resume would fail the trials the resume should re-run.
  bool recover_stale_trials = true;

  // The whole space declared up front; objectives may still suggest more parameters.
  std::optional<SearchSpace> search_space;
};

// A Python or C++ objective: returns the value, or a status that fails (or, for
// TrialPrunedError, prunes) the trial with its message as the reason.
using Objective = std::function<StatusOr<double>(Trial& trial)>;
// A multi-objective one: one value per objective, in the study's order.
using MultiObjective = std::function<StatusOr<std::vector<double>>(Trial& trial)>;

struct OptimizeOptions {
  // Trials this call runs (finished in any state); 0: no limit (then set a timeout or another
  // stop condition).
  int64_t n_trials = 0;
  // Wall-clock budget: no trial starts after it (running ones finish). Infinite: none.
  absl::Duration timeout = absl::InfiniteDuration();
  // Threads running the objective at once. Each gets its own trial; the sampler sees the running
  // ones (TPE's constant liar uses them).
  int n_parallel = 1;
  // Stop when the study holds this many trials in total (Katib's maxTrialCount); 0: no limit.
  int64_t max_trials = 0;
  // Stop after this many failed trials in this call (Katib's maxFailedTrialCount); 0: no limit.
  int64_t max_failed_trials = 0;
  // Stop as soon as a complete trial reaches this value (<= for minimize, >= for maximize).
  // Single-objective studies only.
  std::optional<double> goal;
  // Called after each finished trial, on the thread that ran it (serialized).
  std::function<void(const FrozenTrial&)> callback;
  // Which errors of the objective the study goes on after (Optuna's `catch`). Every error fails
  // its trial, recorded with the error. Then, when this is unset or returns false for the
  // error, Optimize starts no new trial, lets the running ones finish and returns that error
  // (its code, the trial number and message): a programming error (a bound with low > high)
  // stops the study at once instead of failing every trial. CatchAllErrors() goes on after
  // every error, as a Katib experiment does. NaN/inf or missing values, and pruned trials, are
  // not errors of the objective: they never stop the study.
  std::function<bool(const Status&)> catch_error;
  // Slots each trial holds while it runs (GPU devices, CPU cores). A worker takes its slots
  // before it asks a trial and returns them when the trial ends in any state; with fewer slots
  // than n_parallel the other workers wait. The trial sees its devices as Trial::devices();
  // command trials get CUDA_VISIBLE_DEVICES. Invalid resources (more GPUs per trial than
  // exist) are InvalidArgument before any trial starts.
  TrialResources resources;
};

// For OptimizeOptions::catch_error: go on after every error of the objective.
std::function<bool(const Status&)> CatchAllErrors();

class Study {
 public:
  // Creates a study (or loads it, with load_if_exists). InvalidArgument for an unknown sampler,
  // pruner or storage; AlreadyExists for a taken name.
  static StatusOr<std::unique_ptr<Study>> Create(StudyOptions options);
  // Opens an existing study (NotFound naming it) from options.storage; recovers trials left
  // running by dead processes as options.requeue_stale_trials says.
  static StatusOr<std::unique_ptr<Study>> Load(StudyOptions options);

  Study(const Study&) = delete;
  Study& operator=(const Study&) = delete;
  ~Study();

  const std::string& name() const { return record_.name; }
  StudyDirection direction() const { return record_.direction; }
  const std::vector<StudyDirection>& directions() const { return record_.directions; }
  bool multi_objective() const { return record_.directions.size() > 1; }
  const StudyRecord& record() const { return record_; }

  // Starts a trial: a waiting (enqueued or re-queued) one when there is one, else a new one.
  // When the study has a declared search space, every active parameter is sampled now.
  StatusOr<std::shared_ptr<Trial>> Ask();
  // Finishes a trial. A non-finite value for a complete trial fails it instead ("objective
  // returned nan"), and the call returns OK: the study goes on.
  Status Tell(Trial& trial, TrialState state, std::optional<double> value = std::nullopt,
              const std::string& error = "");
  Status Tell(Trial& trial, double value) { return Tell(trial, TrialState::kComplete, value); }
  // Finishes a trial with one value per objective (any number of values for a failed trial).
  // A complete trial with a non-finite value or a count that differs from the number of
  // objectives is failed with the reason, and the call returns OK.
  Status TellValues(Trial& trial, TrialState state, const std::vector<double>& values,
                    const std::string& error = "");
  // Finishes the running trial `number` (ask/tell across processes).
  Status Tell(int64_t number, TrialState state, std::optional<double> value,
              const std::string& error = "");
  Status TellValues(int64_t number, TrialState state, const std::vector<double>& values,
                    const std::string& error = "");

  // Runs the objective until a stop condition. An error of the objective fails its trial and
  // ends the call with that error unless options.catch_error catches it; storage errors (and a
  // sampler that cannot sample the space) always end the call with an error.
  Status Optimize(const Objective& objective, const OptimizeOptions& options);
  // The same for an objective with one value per objective of the study.
  Status OptimizeMultiObjective(const MultiObjective& objective, const OptimizeOptions& options);
  // Asks a running Optimize to start no new trial (from any thread, e.g. a callback).
  void Stop() { stop_requested_ = true; }

  // Queues a trial with fixed parameters, run before sampled ones.
  Status Enqueue(const std::map<std::string, ParamValue>& params);
  // Adds an already evaluated trial (complete with a value, or failed/pruned), also to a
  // finished study; samplers learn from it. InvalidArgument when params do not match
  // `distributions` or a complete trial has no finite value.
  StatusOr<FrozenTrial> AddTrial(const FrozenTrial& trial);

  // Study user attributes (Optuna's study.set_user_attr): notes kept with the study, each a JSON
  // value (InvalidArgument otherwise, or for an empty key); setting a key again replaces it.
  // Stored among the storage's study system attributes under "user_attr:<key>", so every
  // storage keeps them and another process's Load sees them.
  Status SetUserAttr(const std::string& key, const std::string& json_value);
  // Key -> JSON text.
  StatusOr<std::map<std::string, std::string>> UserAttrs();

  StatusOr<TrialList> Trials();
  // The best complete trial. NotFound when none is complete; FailedPrecondition for a
  // multi-objective study (see BestTrials).
  StatusOr<FrozenTrial> BestTrial();
  // The complete trials no other complete trial dominates (the Pareto front), by number; for a
  // single-objective study, the trials that share the best value. Empty when none is complete.
  StatusOr<TrialList> BestTrials();
  // BestTrial's value and parameters (the same errors).
  StatusOr<double> BestValue();
  StatusOr<std::map<std::string, ParamValue>> BestParams();

  Sampler& sampler() { return *sampler_; }
  Pruner* pruner() { return pruner_.get(); }
  Storage& storage() { return *storage_; }

 private:
  friend class Trial;
  // Optimize's workers and their shared state (study_optimize.cc).
  class OptimizeLoop;
  Study(StudyRecord record, std::shared_ptr<Storage> storage, std::shared_ptr<Sampler> sampler,
        std::shared_ptr<Pruner> pruner, std::optional<SearchSpace> space);
  static StatusOr<std::unique_ptr<Study>> Build(StudyOptions options, bool create);

  // The sampler's view of the study; without the trials when `for_sampler` and the sampler
  // reads none (Sampler::UsesTrials).
  StatusOr<SamplerContext> Context(bool for_sampler = false);
  // Tell's common path: checks the values against the study and writes the end of the trial.
  Status Finish(Trial& trial, TrialState state, std::vector<double> values,
                const std::string& error);
  // Samples a parameter for `trial` (relative values first), stores it and returns its value.
  StatusOr<ParamValue> SampleParam(Trial& trial, const std::string& name,
                                   const Distribution& distribution);
  StatusOr<bool> ShouldPrune(const FrozenTrial& record);
  Status SampleDeclaredSpace(Trial& trial);

  StudyRecord record_;
  std::shared_ptr<Storage> storage_;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<Pruner> pruner_;
  std::optional<SearchSpace> space_;
  std::atomic<bool> stop_requested_{false};
  std::mutex sampler_mu_;  // samplers need not be thread-safe
  // Per running trial: the context it was asked with and its relative sample.
  struct AskState {
    SamplerContext context;
    std::map<std::string, double> relative;
  };
  std::mutex ask_mu_;
  std::map<int64_t, std::shared_ptr<AskState>> asks_;
};

}  // namespace mlcore::hpo

// Pruners stop unpromising trials early from their intermediate values, so the budget goes to
// trials that may win. One interface; built-ins by name: "none", "median", "successive_halving"
// (asynchronous, ASHA) and "hyperband".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

struct PrunerContext {
  StudyDirection direction = StudyDirection::kMinimize;
  TrialList trials;  // every trial of the study, as stored now
};

// Options for the built-in pruners; each reads the fields it knows.
struct PrunerOptions {
  // median: completed trials needed at a step before any trial is pruned there (Katib's
  // min_trials_required). Higher is safer against noisy early trials, slower to save budget.
  int min_trials_required = 3;
  // median: steps before this one are never pruned (Katib's start_step / Optuna's warm-up).
  int64_t start_step = 0;

  // successive_halving / hyperband: the first rung's step (the least budget a trial gets).
  int64_t min_resource = 1;
  // hyperband: the largest step a trial reaches (defines the number of brackets).
  int64_t max_resource = 81;
  // successive_halving / hyperband: 1/reduction_factor of the trials at a rung go on.
  int reduction_factor = 3;
  // successive_halving: rung k sits at step min_resource * reduction_factor^(rate + k).
  int min_early_stopping_rate = 0;
};

class Pruner {
 public:
  virtual ~Pruner() = default;
  virtual std::string name() const = 0;
  // Whether `trial` (running, with its latest reports) should stop now.
  virtual StatusOr<bool> Prune(const PrunerContext& context, const FrozenTrial& trial) = 0;
};

using PrunerFactory = std::function<StatusOr<std::unique_ptr<Pruner>>(const PrunerOptions&)>;

// The pruners by name ("pruner" in messages), "none" included; built-ins register themselves
// from pruners.cc.
Registry<PrunerFactory>& PrunerRegistry();

// AlreadyExists when the name is taken ("" and "none" are: they mean no pruning).
Status RegisterPruner(const std::string& name, PrunerFactory factory);
// "none" (or "") returns nullptr: no pruning. InvalidArgument for an unknown name or options
// that make no sense (reduction_factor < 2, min_resource < 1, max_resource < min_resource).
StatusOr<std::unique_ptr<Pruner>> CreatePruner(const std::string& name,
                                               const PrunerOptions& options = {});
std::vector<std::string> PrunerNames();

}  // namespace mlcore::hpo

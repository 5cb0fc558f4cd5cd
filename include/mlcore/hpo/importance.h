// Parameter importance: how much of the objective's variance each parameter explains, from a
// study's complete trials. Two estimators: ParamImportances, binned correlation ratios (cheap,
// model-free, main effects only), and FanovaImportances, functional ANOVA over a random forest
// of the trials (Hutter, Hoos & Leyton-Brown 2014; what Optuna's FanovaImportanceEvaluator
// computes), which averages each parameter's effect over all the others.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

struct ImportanceOptions {
  // Numbers are cut into this many equal-count bins (on the sampling scale: log for log
  // ranges); choices are their own bins. More bins resolve finer effects but need more trials
  // per bin before the estimate settles.
  int bins = 8;
  // Which objective (index into FrozenTrial::values) of a multi-objective study.
  int objective = 0;
};

// One (parameter, importance) per parameter of the complete trials, most important first (ties
// in name order). A parameter's importance is its correlation ratio (variance of the per-bin
// mean objective, weighted by bin size, over the total variance) over the complete trials that
// have it, normalized so the importances sum to 1; all are 0 when the objective never varies.
// Trials that are not complete, or have no value for the objective, are left out.
// InvalidArgument for bins < 1 or a negative objective.
StatusOr<std::vector<std::pair<std::string, double>>> ParamImportances(
    const std::vector<FrozenTrial>& trials, const ImportanceOptions& options = {});

struct FanovaOptions {
  // Trees in the forest and their depth limit (Optuna's evaluator: 64 and 64). More trees give
  // steadier importances at a linear cost.
  int n_trees = 64;
  int max_depth = 64;
  // Seed of the bootstrap samples.
  uint64_t seed = 0;
  // Which objective of a multi-objective study.
  int objective = 0;
};

// One (parameter, importance) per parameter that every complete trial has with the same
// distribution, most important first (ties in name order), summing to 1 (all 0 when the
// objective never varies). Each tree of a random forest (bootstrap samples, variance-reducing
// axis-aligned splits, numbers on the sampling scale, choices by index) partitions the search
// box; a parameter's importance is the variance of the tree's prediction averaged over every
// other parameter (its main effect) over the prediction's total variance over the box, averaged
// over the trees. InvalidArgument for n_trees or max_depth < 1 or a negative objective.
StatusOr<std::vector<std::pair<std::string, double>>> FanovaImportances(
    const std::vector<FrozenTrial>& trials, const FanovaOptions& options = {});

}  // namespace mlcore::hpo

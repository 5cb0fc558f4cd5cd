// Parameter importance: how much of the objective's variance each parameter explains, from a
// study's complete trials. A cheap, model-free stand-in for fANOVA: it sees main effects, not
// interactions.
#pragma once

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

}  // namespace mlcore::hpo

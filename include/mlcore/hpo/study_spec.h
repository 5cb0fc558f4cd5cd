// The mlcore study file: a study whose trials run a command, as `mlcore hpo run SPEC` reads it.
// The format (YAML or JSON; this reader takes the document as JSON):
//   name: demo                   # required; names a file, so no '/' and no leading '.'
//   direction: minimize          # or maximize (or directions: [one])
//   sampler: tpe                 # a sampler name (SamplerNames())
//   seed: 0
//   pruner: median               # or {name: median, min_trials_required: 3, start_step: 0}
//   command: "python train.py --lr={lr} --layers={layers}"
//   metric: loss                 # read from stdout as loss=<value> (format: text or json)
//   space:
//     lr: {type: double, min: 1.0e-4, max: 0.1, log: true}
//     layers: {type: int, min: 1, max: 4}
//     opt: {type: categorical, values: [sgd, adam]}
//   n_trials: 20                 # trials in the study (run and resume stop there)
//   n_parallel: 2
//   timeout: 600                 # seconds per run/resume call; trial_timeout per trial
//   max_failed_trials: 3
//   goal: 0.01
//   gpus_per_trial: 1            # each running trial gets its own GPU(s)
//   gpus: [0, 1]                 # the devices to hand out (default: every CUDA device)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/pruner.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {

struct StudySpec {
  std::string name;
  StudyDirection direction = StudyDirection::kMinimize;
  std::string sampler = "tpe";
  std::optional<uint64_t> seed;
  // "" for none, else "median", "successive_halving" or "hyperband", with the PrunerOptions
  // fields the spec set (the others keep PrunerOptions' defaults).
  std::string pruner;
  std::map<std::string, int64_t> pruner_options;
  std::string command;  // the CommandObjectiveOptions::command_template
  std::string metric;
  MetricsFormat format = MetricsFormat::kText;
  SearchSpace space;
  std::optional<int64_t> n_trials;  // the study's trial budget; n_trials or timeout is required
  int n_parallel = 1;
  std::optional<double> timeout;        // seconds for one run/resume call
  std::optional<double> trial_timeout;  // seconds for one trial
  std::optional<int64_t> max_failed_trials;
  std::optional<double> goal;
  int gpus_per_trial = 0;
  std::optional<std::vector<int>> gpus;  // empty: every CUDA device

  // PrunerOptions with pruner_options applied.
  PrunerOptions MakePrunerOptions() const;
};

// Reads a study file's document, given as JSON. InvalidArgument naming the field
// ("space.lr.min: missing", "n_trials: expected an integer, got \"ten\"", "command: placeholder
// {y} is not a parameter of space (parameters: lr)") for anything missing, mistyped, unknown or
// out of range. A Katib Experiment is not this format: read it with KatibExperimentFromJson.
StatusOr<StudySpec> StudySpecFromJson(std::string_view json);

}  // namespace mlcore::hpo

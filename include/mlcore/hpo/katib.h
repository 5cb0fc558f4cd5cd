// A study definition as a Katib Experiment (kubeflow.org/v1beta1) and back, so a search tuned
// locally with mlcore runs unchanged on a Kubeflow cluster and a cluster's Experiment runs
// locally. Writing emits YAML directly (every string double-quoted, which YAML reads as JSON
// strings); reading takes the Experiment as JSON, Kubernetes' other spelling of the same object
// (`kubectl get experiment -o json`; mlcore.hpo.from_katib converts YAML files first).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

struct KatibExperimentOptions {
  std::string name;  // metadata.name (required)
  std::string k8s_namespace = "kubeflow";
  std::string objective_metric;  // objectiveMetricName (required)
  std::vector<std::string> additional_metrics;
  StudyDirection direction = StudyDirection::kMinimize;
  std::optional<double> goal;
  // mlcore sampler name -> Katib algorithmName: "tpe" -> tpe, "random" -> random, "grid" -> grid.
  std::string sampler = "tpe";
  std::optional<uint64_t> seed;  // algorithmSettings random_state
  // "none" or "median" (Katib's medianstop with min_trials_required and start_step).
  std::string pruner = "none";
  int min_trials_required = 3;
  int64_t start_step = 0;
  int parallel_trial_count = 1;
  int max_trial_count = 10;
  int max_failed_trial_count = 3;
  SearchSpace space;  // conditional parameters are refused (Katib has none)
  // The trial's command with mlcore placeholders ({lr}), rewritten to ${trialParameters.lr}.
  std::string command_template;
  std::string image;  // the training container's image (required)
  // GPUs of each trial: the container's resources.limits["nvidia.com/gpu"] (0: none written);
  // locally OptimizeOptions::resources.gpus_per_trial.
  int gpus_per_trial = 0;
};

// The Experiment as YAML. InvalidArgument naming the field for a missing name, metric, image or
// command, an unknown placeholder, a sampler or pruner Katib has no equivalent for, or a
// conditional parameter.
StatusOr<std::string> KatibExperimentYaml(const KatibExperimentOptions& options);

// Reads an Experiment (JSON) into a study definition: the inverse of KatibExperimentYaml.
// Algorithms map to samplers (tpe and multivariate-tpe -> "tpe", random, grid, cmaes,
// bayesianoptimization -> "gp", sobol; random_state -> seed), medianstop to the "median" pruner,
// the trial container's command (an `sh -c` script, or command + args joined) to the command
// template with ${trialParameters.x} rewritten to {parameter}. InvalidArgument naming the field
// ("spec.parameters[1].feasibleSpace.min: ...") for anything missing, mistyped or unknown.
StatusOr<KatibExperimentOptions> KatibExperimentFromJson(std::string_view json);
// The same from YAML (what `kubectl get experiment -o yaml` prints and people write; JSON is
// YAML too). InvalidArgument with the line and column for text that is not YAML.
StatusOr<KatibExperimentOptions> KatibExperimentFromYaml(std::string_view yaml);
// The YAML document as JSON text (plain scalars typed as YAML 1.2's core schema types them).
// Bounded: InvalidArgument for nesting deeper than 64 or aliases expanding past 100000 nodes.
StatusOr<std::string> KatibYamlToJson(std::string_view yaml);

// One parameter of an Experiment (a KatibParameter, see distribution.h) as Katib's ParameterSpec
// in JSON text: {"name", "parameterType", "feasibleSpace": {"min", "max", "step", "list",
// "distribution"}}, with only the fields the parameter has, in that order.
std::string KatibParameterToJson(const KatibParameter& parameter);

}  // namespace mlcore::hpo

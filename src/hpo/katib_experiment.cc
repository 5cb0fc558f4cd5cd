#include "absl/strings/str_cat.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/katib.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

// A YAML scalar: JSON's string syntax is valid YAML, and quoting everything avoids YAML's
// surprises ("no" read as false, "1e-3" as a number where Katib wants a string).
std::string Q(const std::string& s) { return nlohmann::json(s).dump(); }

Status Required(const std::string& value, const char* field) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Katib experiment: ", field, " is required"));
  }
  return absl::OkStatus();
}

// spec.parameters: each parameter's Katib type and feasible space.
void AppendParameters(const SearchSpace& space, std::string* out) {
  std::string& y = *out;
  for (const SearchSpace::Param& p : space.params()) {
    KatibParameter k = DistributionToKatib(p.name, p.distribution);
    absl::StrAppend(&y, "    - name: ", Q(k.name), "\n      parameterType: ", k.parameter_type,
                    "\n      feasibleSpace:\n");
    if (!k.min.empty()) absl::StrAppend(&y, "        min: ", Q(k.min), "\n");
    if (!k.max.empty()) absl::StrAppend(&y, "        max: ", Q(k.max), "\n");
    if (!k.step.empty()) absl::StrAppend(&y, "        step: ", Q(k.step), "\n");
    if (!k.distribution.empty()) {
      absl::StrAppend(&y, "        distribution: ", k.distribution, "\n");
    }
    if (!k.list.empty()) {
      absl::StrAppend(&y, "        list:\n");
      for (const std::string& v : k.list) absl::StrAppend(&y, "          - ", Q(v), "\n");
    }
  }
}

}  // namespace

StatusOr<std::string> KatibExperimentYaml(const KatibExperimentOptions& o) {
  MLCORE_RETURN_IF_ERROR(Required(o.name, "name"));
  MLCORE_RETURN_IF_ERROR(Required(o.objective_metric, "objective_metric"));
  MLCORE_RETURN_IF_ERROR(Required(o.image, "image"));
  if (o.gpus_per_trial < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpus_per_trial must be >= 0, got ", o.gpus_per_trial));
  }
  MLCORE_RETURN_IF_ERROR(Required(o.command_template, "command_template"));
  if (o.sampler != "tpe" && o.sampler != "random" && o.sampler != "grid") {
    return absl::InvalidArgumentError(absl::StrCat("Katib experiment: sampler '", o.sampler,
                                                   "' has no Katib algorithm (tpe, random, grid)"));
  }
  if (o.pruner != "none" && o.pruner != "median") {
    return absl::InvalidArgumentError(absl::StrCat("Katib experiment: pruner '", o.pruner,
                                                   "' has no Katib early stopping (none, median)"));
  }
  // Rewrite {name} placeholders to Katib's ${trialParameters.name}.
  std::map<std::string, ParamValue> refs;
  for (const SearchSpace::Param& p : o.space.params()) {
    if (p.condition.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("Katib experiment: parameter '", p.name,
                                                     "' is conditional; Katib has no conditions"));
    }
    refs[p.name] = absl::StrCat("${trialParameters.", p.name, "}");
  }
  MLCORE_ASSIGN_OR_RETURN(std::string command, FormatCommand(o.command_template, refs, 0));

  std::string y;
  absl::StrAppend(&y, "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n  name: ",
                  Q(o.name), "\n  namespace: ", Q(o.k8s_namespace), "\nspec:\n  objective:\n",
                  "    type: ", StudyDirectionName(o.direction), "\n");
  if (o.goal.has_value()) absl::StrAppend(&y, "    goal: ", *o.goal, "\n");
  absl::StrAppend(&y, "    objectiveMetricName: ", Q(o.objective_metric), "\n");
  if (!o.additional_metrics.empty()) {
    absl::StrAppend(&y, "    additionalMetricNames:\n");
    for (const std::string& m : o.additional_metrics) absl::StrAppend(&y, "      - ", Q(m), "\n");
  }
  absl::StrAppend(&y, "  algorithm:\n    algorithmName: ", o.sampler, "\n");
  if (o.seed.has_value()) {
    absl::StrAppend(&y, "    algorithmSettings:\n      - name: random_state\n        value: ",
                    Q(std::to_string(*o.seed)), "\n");
  }
  if (o.pruner == "median") {
    absl::StrAppend(&y, "  earlyStopping:\n    algorithmName: medianstop\n",
                    "    algorithmSettings:\n      - name: min_trials_required\n        value: ",
                    Q(std::to_string(o.min_trials_required)),
                    "\n      - name: start_step\n        value: ", Q(std::to_string(o.start_step)),
                    "\n");
  }
  absl::StrAppend(&y, "  parallelTrialCount: ", o.parallel_trial_count,
                  "\n  maxTrialCount: ", o.max_trial_count,
                  "\n  maxFailedTrialCount: ", o.max_failed_trial_count, "\n  parameters:\n");
  AppendParameters(o.space, &y);
  absl::StrAppend(&y, "  trialTemplate:\n    primaryContainerName: training-container\n",
                  "    trialParameters:\n");
  for (const SearchSpace::Param& p : o.space.params()) {
    absl::StrAppend(&y, "      - name: ", Q(p.name), "\n        reference: ", Q(p.name), "\n");
  }
  absl::StrAppend(&y, "    trialSpec:\n      apiVersion: batch/v1\n      kind: Job\n",
                  "      spec:\n        template:\n          spec:\n            containers:\n",
                  "              - name: training-container\n                image: ", Q(o.image),
                  "\n                command:\n                  - \"sh\"\n                  - "
                  "\"-c\"\n                  - ",
                  Q(command), "\n");
  if (o.gpus_per_trial > 0) {
    absl::StrAppend(&y, "                resources:\n                  limits:\n",
                    "                    \"nvidia.com/gpu\": ", o.gpus_per_trial, "\n");
  }
  absl::StrAppend(&y, "            restartPolicy: Never\n");
  return y;
}

}  // namespace mlcore::hpo

// Katib Experiment -> study definition. Every error names the JSON path of the field, as a
// user fixing a hand-written Experiment needs to know where to look.
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"
#include "mlcore/hpo/katib.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

using Json = nlohmann::json;

Status FieldError(const std::string& path, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("Katib experiment ", path, ": ", message));
}

StatusOr<const Json*> Child(const Json& j, const std::string& path, const char* key,
                            bool required) {
  if (!j.is_object()) return FieldError(path, "must be a mapping");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return FieldError(absl::StrCat(path, ".", key), "is required");
    return static_cast<const Json*>(nullptr);
  }
  return &*it;
}

// Katib writes numbers as strings ("0.01"); YAML may give real numbers. Both read as text.
StatusOr<std::string> Scalar(const Json& j, const std::string& path) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) return j.dump();
  if (j.is_boolean()) return std::string(j.get<bool>() ? "true" : "false");
  return FieldError(path, absl::StrCat("must be a string or a number, not ", j.type_name()));
}

StatusOr<std::string> Text(const Json& parent, const std::string& path, const char* key,
                           bool required) {
  MLCORE_ASSIGN_OR_RETURN(const Json* j, Child(parent, path, key, required));
  if (j == nullptr) return std::string();
  return Scalar(*j, absl::StrCat(path, ".", key));
}

StatusOr<std::optional<int64_t>> Integer(const Json& parent, const std::string& path,
                                         const char* key) {
  MLCORE_ASSIGN_OR_RETURN(std::string text, Text(parent, path, key, false));
  if (text.empty()) return std::optional<int64_t>();
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || used == 0) {
    return FieldError(absl::StrCat(path, ".", key), absl::StrCat("'", text, "' is not an integer"));
  }
  return std::optional<int64_t>(v);
}

// name -> value of a Katib settings list ([{name: x, value: y}, ...]).
StatusOr<std::map<std::string, std::string>> Settings(const Json* list, const std::string& path) {
  std::map<std::string, std::string> out;
  if (list == nullptr) return out;
  if (!list->is_array()) return FieldError(path, "must be a list");
  for (size_t i = 0; i < list->size(); ++i) {
    std::string item = absl::StrCat(path, "[", i, "]");
    MLCORE_ASSIGN_OR_RETURN(std::string name, Text((*list)[i], item, "name", true));
    MLCORE_ASSIGN_OR_RETURN(std::string value, Text((*list)[i], item, "value", false));
    out[name] = value;
  }
  return out;
}

StatusOr<std::string> SamplerFor(const std::string& algorithm, const std::string& path) {
  static const auto* names = new std::map<std::string, std::string>{
      {"tpe", "tpe"},     {"multivariate-tpe", "tpe"},    {"random", "random"}, {"grid", "grid"},
      {"cmaes", "cmaes"}, {"bayesianoptimization", "gp"}, {"sobol", "sobol"},
  };
  auto it = names->find(algorithm);
  if (it != names->end()) return it->second;
  std::vector<std::string> known;
  for (const auto& [k, v] : *names) known.push_back(k);
  return FieldError(path, absl::StrCat("algorithm '", algorithm, "' has no mlcore sampler (known: ",
                                       absl::StrJoin(known, ", "), ")"));
}

// The container's resources.limits["nvidia.com/gpu"] (a number or a numeric string, as
// Kubernetes quantities are written); 0 when it asks for none.
StatusOr<int> ContainerGpus(const Json& container) {
  const char* path = "spec.trialTemplate.trialSpec container.resources.limits.nvidia.com/gpu";
  auto resources = container.find("resources");
  if (resources == container.end() || !resources->is_object()) return 0;
  auto limits = resources->find("limits");
  if (limits == resources->end() || !limits->is_object()) return 0;
  auto gpu = limits->find("nvidia.com/gpu");
  if (gpu == limits->end() || gpu->is_null()) return 0;
  int64_t n = -1;
  if (gpu->is_number_integer()) {
    n = gpu->get<int64_t>();
  } else if (gpu->is_string()) {
    if (!absl::SimpleAtoi(internal::AV(gpu->get<std::string>()), &n)) n = -1;
  }
  if (n < 0 || n > 1024) {
    return FieldError(path, absl::StrCat("must be a whole number of GPUs, got ", gpu->dump()));
  }
  return static_cast<int>(n);
}

// The first container named `name` (any if empty) anywhere under `spec`: Jobs, TFJobs and
// PyTorchJobs nest their pod templates at different paths.
const Json* FindContainer(const Json& j, const std::string& name) {
  if (j.is_object()) {
    auto containers = j.find("containers");
    if (containers != j.end() && containers->is_array()) {
      for (const Json& c : *containers) {
        if (!c.is_object()) continue;
        auto n = c.find("name");
        if (name.empty() || (n != c.end() && n->is_string() && n->get<std::string>() == name)) {
          return &c;
        }
      }
    }
    for (const auto& [k, v] : j.items()) {
      if (const Json* found = FindContainer(v, name)) return found;
    }
  } else if (j.is_array()) {
    for (const Json& v : j) {
      if (const Json* found = FindContainer(v, name)) return found;
    }
  }
  return nullptr;
}

std::string ShellQuote(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word) {
    plain &= std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("-_./=:,@%+{}$").find(c) != std::string_view::npos;
  }
  if (plain) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// spec.objective: direction, metric, goal, additional metrics.
Status ReadObjective(const Json* spec, KatibExperimentOptions& o) {
  MLCORE_ASSIGN_OR_RETURN(const Json* objective, Child(*spec, "spec", "objective", true));
  MLCORE_ASSIGN_OR_RETURN(std::string type, Text(*objective, "spec.objective", "type", true));
  StatusOr<StudyDirection> direction = ParseStudyDirection(type);
  if (!direction.ok())
    return FieldError("spec.objective.type", std::string(direction.status().message()));
  o.direction = *direction;
  MLCORE_ASSIGN_OR_RETURN(o.objective_metric,
                          Text(*objective, "spec.objective", "objectiveMetricName", true));
  MLCORE_ASSIGN_OR_RETURN(std::string goal, Text(*objective, "spec.objective", "goal", false));
  if (!goal.empty()) {
    size_t used = 0;
    try {
      o.goal = std::stod(goal, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != goal.size()) {
      return FieldError("spec.objective.goal", absl::StrCat("'", goal, "' is not a number"));
    }
  }
  MLCORE_ASSIGN_OR_RETURN(const Json* extra,
                          Child(*objective, "spec.objective", "additionalMetricNames", false));
  if (extra != nullptr) {
    if (!extra->is_array())
      return FieldError("spec.objective.additionalMetricNames", "must be a list");
    for (size_t i = 0; i < extra->size(); ++i) {
      MLCORE_ASSIGN_OR_RETURN(
          std::string m,
          Scalar((*extra)[i], absl::StrCat("spec.objective.additionalMetricNames[", i, "]")));
      o.additional_metrics.push_back(m);
    }
  }
  return absl::OkStatus();
}

// spec.algorithm: the sampler and its seed.
Status ReadAlgorithm(const Json* spec, KatibExperimentOptions& o) {
  MLCORE_ASSIGN_OR_RETURN(const Json* algorithm, Child(*spec, "spec", "algorithm", false));
  if (algorithm != nullptr) {
    MLCORE_ASSIGN_OR_RETURN(std::string name,
                            Text(*algorithm, "spec.algorithm", "algorithmName", true));
    MLCORE_ASSIGN_OR_RETURN(o.sampler, SamplerFor(name, "spec.algorithm.algorithmName"));
    MLCORE_ASSIGN_OR_RETURN(const Json* settings,
                            Child(*algorithm, "spec.algorithm", "algorithmSettings", false));
    MLCORE_ASSIGN_OR_RETURN(auto values, Settings(settings, "spec.algorithm.algorithmSettings"));
    auto seed = values.find("random_state");
    if (seed != values.end()) {
      size_t used = 0;
      try {
        o.seed = std::stoull(seed->second, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != seed->second.size() || used == 0) {
        return FieldError("spec.algorithm.algorithmSettings.random_state",
                          absl::StrCat("'", seed->second, "' is not a non-negative integer"));
      }
    }
  }
  return absl::OkStatus();
}

// spec.earlyStopping: medianstop and its settings.
Status ReadEarlyStopping(const Json* spec, KatibExperimentOptions& o) {
  MLCORE_ASSIGN_OR_RETURN(const Json* early, Child(*spec, "spec", "earlyStopping", false));
  if (early != nullptr) {
    MLCORE_ASSIGN_OR_RETURN(std::string name,
                            Text(*early, "spec.earlyStopping", "algorithmName", true));
    if (name != "medianstop") {
      return FieldError("spec.earlyStopping.algorithmName",
                        absl::StrCat("'", name, "' has no mlcore pruner (known: medianstop)"));
    }
    o.pruner = "median";
    MLCORE_ASSIGN_OR_RETURN(const Json* settings,
                            Child(*early, "spec.earlyStopping", "algorithmSettings", false));
    MLCORE_ASSIGN_OR_RETURN(auto values,
                            Settings(settings, "spec.earlyStopping.algorithmSettings"));
    for (const auto& [key, value] : values) {
      std::string path = absl::StrCat("spec.earlyStopping.algorithmSettings.", key);
      Json holder = {{"v", value}};
      MLCORE_ASSIGN_OR_RETURN(std::optional<int64_t> v, Integer(holder, path, "v"));
      if (key == "min_trials_required") {
        o.min_trials_required = static_cast<int>(v.value_or(o.min_trials_required));
      } else if (key == "start_step") {
        o.start_step = v.value_or(o.start_step);
      } else {
        return FieldError(path, "is not a medianstop setting (min_trials_required, start_step)");
      }
    }
  }
  return absl::OkStatus();
}

// The trial counts.
Status ReadCounts(const Json* spec, KatibExperimentOptions& o) {
  MLCORE_ASSIGN_OR_RETURN(std::optional<int64_t> parallel,
                          Integer(*spec, "spec", "parallelTrialCount"));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int64_t> max_trials,
                          Integer(*spec, "spec", "maxTrialCount"));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int64_t> max_failed,
                          Integer(*spec, "spec", "maxFailedTrialCount"));
  if (parallel.has_value()) o.parallel_trial_count = static_cast<int>(*parallel);
  if (max_trials.has_value()) o.max_trial_count = static_cast<int>(*max_trials);
  if (max_failed.has_value()) o.max_failed_trial_count = static_cast<int>(*max_failed);
  if (o.parallel_trial_count < 1) return FieldError("spec.parallelTrialCount", "must be >= 1");
  return absl::OkStatus();
}

// spec.parameters: the search space.
Status ReadParameters(const Json* spec, KatibExperimentOptions& o) {
  MLCORE_ASSIGN_OR_RETURN(const Json* parameters, Child(*spec, "spec", "parameters", true));
  if (!parameters->is_array() || parameters->empty()) {
    return FieldError("spec.parameters", "must be a non-empty list");
  }
  for (size_t i = 0; i < parameters->size(); ++i) {
    const Json& p = (*parameters)[i];
    std::string path = absl::StrCat("spec.parameters[", i, "]");
    KatibParameter k;
    MLCORE_ASSIGN_OR_RETURN(k.name, Text(p, path, "name", true));
    MLCORE_ASSIGN_OR_RETURN(k.parameter_type, Text(p, path, "parameterType", true));
    MLCORE_ASSIGN_OR_RETURN(const Json* fs, Child(p, path, "feasibleSpace", true));
    std::string fs_path = path + ".feasibleSpace";
    MLCORE_ASSIGN_OR_RETURN(k.min, Text(*fs, fs_path, "min", false));
    MLCORE_ASSIGN_OR_RETURN(k.max, Text(*fs, fs_path, "max", false));
    MLCORE_ASSIGN_OR_RETURN(k.step, Text(*fs, fs_path, "step", false));
    MLCORE_ASSIGN_OR_RETURN(k.distribution, Text(*fs, fs_path, "distribution", false));
    MLCORE_ASSIGN_OR_RETURN(const Json* list, Child(*fs, fs_path, "list", false));
    if (list != nullptr) {
      if (!list->is_array()) return FieldError(fs_path + ".list", "must be a list");
      for (size_t j = 0; j < list->size(); ++j) {
        MLCORE_ASSIGN_OR_RETURN(std::string v,
                                Scalar((*list)[j], absl::StrCat(fs_path, ".list[", j, "]")));
        k.list.push_back(v);
      }
    }
    StatusOr<Distribution> d = DistributionFromKatib(k);
    if (!d.ok()) return FieldError(path, std::string(d.status().message()));
    Status added = o.space.Add(k.name, *d);
    if (!added.ok()) return FieldError(path, std::string(added.message()));
  }
  return absl::OkStatus();
}

// spec.trialTemplate.trialParameters: ${trialParameters.<name>} -> the parameter it refers to.
StatusOr<std::map<std::string, std::string>> TrialReferences(const Json* tpl,
                                                             const SearchSpace& space) {
  // ${trialParameters.<name>} -> {<reference>}: the parameter each trial parameter refers to.
  std::map<std::string, std::string> references;
  MLCORE_ASSIGN_OR_RETURN(const Json* trial_params,
                          Child(*tpl, "spec.trialTemplate", "trialParameters", false));
  if (trial_params != nullptr) {
    if (!trial_params->is_array()) {
      return FieldError("spec.trialTemplate.trialParameters", "must be a list");
    }
    for (size_t i = 0; i < trial_params->size(); ++i) {
      std::string path = absl::StrCat("spec.trialTemplate.trialParameters[", i, "]");
      MLCORE_ASSIGN_OR_RETURN(std::string name, Text((*trial_params)[i], path, "name", true));
      MLCORE_ASSIGN_OR_RETURN(std::string ref, Text((*trial_params)[i], path, "reference", true));
      if (space.Find(ref) == nullptr) {
        return FieldError(path + ".reference",
                          absl::StrCat("'", ref, "' is not one of spec.parameters"));
      }
      references[name] = ref;
    }
  }
  return references;
}

// The trial container's command and args as one shell command line: an `sh -c` script as it
// is, other words quoted.
StatusOr<std::string> ContainerCommand(const Json* container) {
  std::vector<std::string> words;
  for (const char* key : {"command", "args"}) {
    auto it = container->find(key);
    if (it == container->end() || it->is_null()) continue;
    std::string path = absl::StrCat("spec.trialTemplate.trialSpec container.", key);
    if (!it->is_array()) return FieldError(path, "must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      MLCORE_ASSIGN_OR_RETURN(std::string w, Scalar((*it)[i], absl::StrCat(path, "[", i, "]")));
      words.push_back(w);
    }
  }
  if (words.empty()) {
    return FieldError("spec.trialTemplate.trialSpec container", "has no command or args");
  }
  std::string command;
  if (words.size() == 3 &&
      (words[0] == "sh" || words[0] == "/bin/sh" || words[0] == "bash" ||
       words[0] == "/bin/bash") &&
      words[1] == "-c") {
    command = words[2];
  } else {
    std::vector<std::string> quoted;
    for (const std::string& w : words) quoted.push_back(ShellQuote(w));
    command = absl::StrJoin(quoted, " ");
  }
  return command;
}

// Katib's ${trialParameters.x} references rewritten to mlcore placeholders ({parameter}).
StatusOr<std::string> RewriteReferences(const std::string& command,
                                        const std::map<std::string, std::string>& references) {
  // Rewrite Katib's references to mlcore placeholders.
  std::string out;
  constexpr std::string_view kOpen = "${trialParameters.";
  for (size_t i = 0; i < command.size();) {
    if (command.compare(i, kOpen.size(), kOpen) == 0) {
      size_t close = command.find('}', i);
      if (close != std::string::npos) {
        std::string name = command.substr(i + kOpen.size(), close - i - kOpen.size());
        auto ref = references.find(name);
        if (ref == references.end()) {
          return FieldError("spec.trialTemplate",
                            absl::StrCat("the command uses ${trialParameters.", name,
                                         "}, which trialParameters does not define"));
        }
        absl::StrAppend(&out, "{", ref->second, "}");
        i = close + 1;
        continue;
      }
    }
    out.push_back(command[i++]);
  }
  return out;
}

}  // namespace

StatusOr<KatibExperimentOptions> KatibExperimentFromJson(std::string_view text) {
  Json root = Json::parse(text, nullptr, false);
  if (root.is_discarded()) return FieldError("document", "is not valid JSON");
  if (!root.is_object()) return FieldError("document", "must be a mapping");
  KatibExperimentOptions o;
  MLCORE_ASSIGN_OR_RETURN(std::string kind, Text(root, "", "kind", false));
  if (!kind.empty() && kind != "Experiment") {
    return FieldError("kind", absl::StrCat("is '", kind, "', not 'Experiment'"));
  }
  MLCORE_ASSIGN_OR_RETURN(const Json* metadata, Child(root, "", "metadata", true));
  MLCORE_ASSIGN_OR_RETURN(o.name, Text(*metadata, "metadata", "name", true));
  MLCORE_ASSIGN_OR_RETURN(std::string ns, Text(*metadata, "metadata", "namespace", false));
  if (!ns.empty()) o.k8s_namespace = ns;
  MLCORE_ASSIGN_OR_RETURN(const Json* spec, Child(root, "", "spec", true));
  MLCORE_RETURN_IF_ERROR(ReadObjective(spec, o));
  MLCORE_RETURN_IF_ERROR(ReadAlgorithm(spec, o));
  MLCORE_RETURN_IF_ERROR(ReadEarlyStopping(spec, o));
  MLCORE_RETURN_IF_ERROR(ReadCounts(spec, o));
  MLCORE_RETURN_IF_ERROR(ReadParameters(spec, o));

  MLCORE_ASSIGN_OR_RETURN(const Json* tpl, Child(*spec, "spec", "trialTemplate", true));
  MLCORE_ASSIGN_OR_RETURN(auto references, TrialReferences(tpl, o.space));
  MLCORE_ASSIGN_OR_RETURN(std::string primary,
                          Text(*tpl, "spec.trialTemplate", "primaryContainerName", false));
  MLCORE_ASSIGN_OR_RETURN(const Json* trial_spec,
                          Child(*tpl, "spec.trialTemplate", "trialSpec", true));
  const Json* container = FindContainer(*trial_spec, primary);
  if (container == nullptr) {
    return FieldError("spec.trialTemplate.trialSpec",
                      primary.empty() ? std::string("has no container")
                                      : absl::StrCat("has no container named '", primary, "'"));
  }
  MLCORE_ASSIGN_OR_RETURN(
      o.image, Text(*container, "spec.trialTemplate.trialSpec container", "image", false));
  MLCORE_ASSIGN_OR_RETURN(o.gpus_per_trial, ContainerGpus(*container));
  MLCORE_ASSIGN_OR_RETURN(std::string command, ContainerCommand(container));
  MLCORE_ASSIGN_OR_RETURN(o.command_template, RewriteReferences(command, references));
  return o;
}

}  // namespace mlcore::hpo

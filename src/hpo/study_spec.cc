#include "mlcore/hpo/study_spec.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

using Json = nlohmann::json;

constexpr std::array<const char*, 18> kTopFields = {
    "name",     "direction",      "directions", "sampler",       "seed",
    "pruner",   "command",        "metric",     "format",        "space",
    "n_trials", "n_parallel",     "timeout",    "trial_timeout", "max_failed_trials",
    "goal",     "gpus_per_trial", "gpus"};

// The options each pruner takes from a spec, as PrunerOptions fields.
const std::map<std::string, std::vector<std::string>>& PrunerFields() {
  static const auto* fields = new std::map<std::string, std::vector<std::string>>{
      {"median", {"min_trials_required", "start_step"}},
      {"successive_halving", {"min_resource", "reduction_factor", "min_early_stopping_rate"}},
      {"hyperband", {"min_resource", "max_resource", "reduction_factor"}},
  };
  return *fields;
}

Status FieldError(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(field + ": " + message);
}

std::string Got(const Json& value) { return absl::StrCat("got ", value.dump()); }

bool IsInteger(const Json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

// A whole number at least `minimum` (when given).
StatusOr<int64_t> Integer(const std::string& field, const Json& v,
                          std::optional<int64_t> minimum = std::nullopt) {
  if (!IsInteger(v)) return FieldError(field, absl::StrCat("expected an integer, ", Got(v)));
  const int64_t x = v.get<int64_t>();
  if (minimum && x < *minimum) {
    return FieldError(field, absl::StrCat("must be at least ", *minimum, ", ", Got(v)));
  }
  return x;
}

StatusOr<double> Number(const std::string& field, const Json& v,
                        std::optional<int64_t> minimum = std::nullopt) {
  if (!v.is_number()) return FieldError(field, absl::StrCat("expected a number, ", Got(v)));
  const double x = v.get<double>();
  if (minimum && x < static_cast<double>(*minimum)) {
    return FieldError(field, absl::StrCat("must be at least ", *minimum, ", ", Got(v)));
  }
  return x;
}

// {type: double|float|int, min, max, step?, log?}
StatusOr<Distribution> RangeDistribution(const std::string& field, const Json& entry,
                                         bool integer) {
  for (const char* key : {"min", "max"}) {
    if (!entry.contains(key)) return FieldError(absl::StrCat(field, ".", key), "missing");
  }
  const bool log = entry.value("log", Json(false)).get<bool>();
  if (integer) {
    MLCORE_ASSIGN_OR_RETURN(int64_t low, Integer(field + ".min", entry["min"]));
    MLCORE_ASSIGN_OR_RETURN(int64_t high, Integer(field + ".max", entry["max"]));
    int64_t step = 1;
    if (entry.contains("step") && !entry["step"].is_null()) {
      MLCORE_ASSIGN_OR_RETURN(step, Integer(field + ".step", entry["step"]));
    }
    return Distribution::Int(low, high, log, step);
  }
  MLCORE_ASSIGN_OR_RETURN(double low, Number(field + ".min", entry["min"]));
  MLCORE_ASSIGN_OR_RETURN(double high, Number(field + ".max", entry["max"]));
  std::optional<double> step;
  if (entry.contains("step") && !entry["step"].is_null()) {
    MLCORE_ASSIGN_OR_RETURN(step, Number(field + ".step", entry["step"]));
  }
  return Distribution::Float(low, high, log, step);
}

// {type: discrete|categorical, values: [...]}
StatusOr<Distribution> ChoiceDistribution(const std::string& field, const Json& entry,
                                          bool discrete) {
  const Json values = entry.value("values", Json());
  if (!values.is_array()) {
    return FieldError(field + ".values", absl::StrCat("expected a list, ", Got(values)));
  }
  std::vector<double> numbers;
  std::vector<ParamValue> choices;
  for (const Json& v : values) {
    if (v.is_boolean() && !discrete) {
      choices.push_back(v.get<bool>());
    } else if (IsInteger(v) && !discrete) {
      choices.push_back(v.get<int64_t>());
    } else if (v.is_number() && !v.is_boolean()) {
      numbers.push_back(v.get<double>());
      choices.push_back(v.get<double>());
    } else if (v.is_string() && !discrete) {
      choices.push_back(v.get<std::string>());
    } else {
      return FieldError(field, absl::StrCat(discrete ? "discrete values must be numbers, "
                                                     : "choices must be bool, int, float or str, ",
                                            Got(v)));
    }
  }
  if (discrete) return Distribution::Discrete(std::move(numbers));
  return Distribution::Categorical(std::move(choices));
}

StatusOr<Distribution> ParseDistribution(const std::string& field, const Json& entry) {
  if (!entry.is_object()) {
    return FieldError(field, absl::StrCat("expected a mapping like {type: double, min: 0.001, "
                                          "max: 0.1}, ",
                                          Got(entry)));
  }
  static const std::vector<std::string> kTypes = {"double", "float", "int", "discrete",
                                                  "categorical"};
  const Json type = entry.value("type", Json());
  if (!type.is_string() ||
      std::find(kTypes.begin(), kTypes.end(), type.get<std::string>()) == kTypes.end()) {
    return FieldError(field + ".type", absl::StrCat("expected one of ", absl::StrJoin(kTypes, ", "),
                                                    ", ", Got(type)));
  }
  const std::string kind = type.get<std::string>();
  const bool range = kind == "double" || kind == "float" || kind == "int";
  std::set<std::string> allowed = {"type", "log"};
  for (const char* k : range ? std::vector<const char*>{"min", "max", "step"}
                             : std::vector<const char*>{"values"}) {
    allowed.insert(k);
  }
  for (const auto& [key, value] : entry.items()) {
    if (!allowed.count(key)) {
      return FieldError(absl::StrCat(field, ".", key),
                        absl::StrCat("unknown field for type ", kind,
                                     " (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  if (entry.contains("log") && !entry["log"].is_boolean()) {
    return FieldError(field + ".log", absl::StrCat("expected true or false, ", Got(entry["log"])));
  }
  StatusOr<Distribution> d = range ? RangeDistribution(field, entry, kind == "int")
                                   : ChoiceDistribution(field, entry, kind == "discrete");
  if (!d.ok() && d.status().message().rfind(field, 0) != 0) {
    return FieldError(field, std::string(d.status().message()));
  }
  return d;
}

// name, command, metric, direction, sampler, seed and format.
Status ReadIdentity(const Json& doc, StudySpec& spec) {
  for (const char* key : {"name", "command", "metric", "space"}) {
    if (!doc.contains(key)) return FieldError(key, "missing");
  }
  for (auto [key, out] : {std::pair<const char*, std::string*>{"name", &spec.name},
                          {"command", &spec.command},
                          {"metric", &spec.metric}}) {
    const Json& v = doc[key];
    if (!v.is_string() || v.get<std::string>().empty()) {
      return FieldError(key, absl::StrCat("expected a non-empty string, ", Got(v)));
    }
    *out = v.get<std::string>();
  }
  if (spec.name.find('/') != std::string::npos || spec.name[0] == '.') {
    return FieldError("name", absl::StrCat(Json(spec.name).dump(),
                                           " cannot name a file (no '/', no leading '.')"));
  }
  Json direction = doc.value("direction", Json("minimize"));
  if (doc.contains("directions")) {
    const Json& dirs = doc["directions"];
    if (!dirs.is_array() || dirs.size() != 1) {
      return FieldError("directions", absl::StrCat("a command study reads one metric, so give "
                                                   "one direction, ",
                                                   Got(dirs)));
    }
    direction = dirs[0];
  }
  StatusOr<StudyDirection> d = direction.is_string()
                                   ? ParseStudyDirection(direction.get<std::string>())
                                   : StatusOr<StudyDirection>(absl::InvalidArgumentError(""));
  if (!d.ok()) {
    return FieldError("direction", absl::StrCat("expected minimize or maximize, ", Got(direction)));
  }
  spec.direction = *d;
  const Json sampler = doc.value("sampler", Json("tpe"));
  const std::vector<std::string> samplers = SamplerNames();
  if (!sampler.is_string() ||
      std::find(samplers.begin(), samplers.end(), sampler.get<std::string>()) == samplers.end()) {
    return FieldError("sampler", absl::StrCat("expected one of ", absl::StrJoin(samplers, ", "),
                                              ", ", Got(sampler)));
  }
  spec.sampler = sampler.get<std::string>();
  if (doc.contains("seed") && !doc["seed"].is_null()) {
    MLCORE_ASSIGN_OR_RETURN(int64_t seed, Integer("seed", doc["seed"], 0));
    spec.seed = static_cast<uint64_t>(seed);
  }
  const Json format = doc.value("format", Json("text"));
  StatusOr<MetricsFormat> f = format.is_string()
                                  ? ParseMetricsFormat(format.get<std::string>())
                                  : StatusOr<MetricsFormat>(absl::InvalidArgumentError(""));
  if (!f.ok()) return FieldError("format", absl::StrCat("expected text or json, ", Got(format)));
  spec.format = *f;
  return absl::OkStatus();
}

// pruner: a name, or {name: ..., options}.
Status ReadPruner(const Json& doc, StudySpec& spec) {
  if (!doc.contains("pruner") || doc["pruner"].is_null()) return absl::OkStatus();
  Json pruner = doc["pruner"];
  if (pruner.is_string()) pruner = Json{{"name", pruner}};
  const auto& fields = PrunerFields();
  const Json name = pruner.is_object() ? pruner.value("name", Json()) : Json();
  if (!name.is_string() || !fields.count(name.get<std::string>())) {
    std::vector<std::string> names;
    for (const auto& [n, f] : fields) names.push_back(n);
    return FieldError("pruner", absl::StrCat("expected one of ", absl::StrJoin(names, ", "),
                                             " (a name or {name: ..., options}), ", Got(pruner)));
  }
  spec.pruner = name.get<std::string>();
  const std::vector<std::string>& allowed = fields.at(spec.pruner);
  for (const auto& [key, value] : pruner.items()) {
    if (key == "name") continue;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return FieldError("pruner." + key,
                        absl::StrCat("unknown option for ", spec.pruner,
                                     " (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
    MLCORE_ASSIGN_OR_RETURN(spec.pruner_options[key], Integer("pruner." + key, value, 0));
  }
  return absl::OkStatus();
}

// The trial budget, time limits, goal and GPUs.
Status ReadBudget(const Json& doc, StudySpec& spec) {
  auto given = [&](const char* key) { return doc.contains(key) && !doc[key].is_null(); };
  if (given("n_trials")) {
    MLCORE_ASSIGN_OR_RETURN(spec.n_trials, Integer("n_trials", doc["n_trials"], 1));
  }
  if (given("n_parallel")) {
    MLCORE_ASSIGN_OR_RETURN(int64_t n, Integer("n_parallel", doc["n_parallel"], 1));
    spec.n_parallel = static_cast<int>(n);
  }
  if (given("timeout")) {
    MLCORE_ASSIGN_OR_RETURN(spec.timeout, Number("timeout", doc["timeout"], 0));
  }
  if (given("trial_timeout")) {
    MLCORE_ASSIGN_OR_RETURN(spec.trial_timeout, Number("trial_timeout", doc["trial_timeout"], 0));
  }
  if (given("max_failed_trials")) {
    MLCORE_ASSIGN_OR_RETURN(spec.max_failed_trials,
                            Integer("max_failed_trials", doc["max_failed_trials"], 1));
  }
  if (given("goal")) {
    MLCORE_ASSIGN_OR_RETURN(spec.goal, Number("goal", doc["goal"]));
  }
  if (given("gpus_per_trial")) {
    MLCORE_ASSIGN_OR_RETURN(int64_t g, Integer("gpus_per_trial", doc["gpus_per_trial"], 0));
    spec.gpus_per_trial = static_cast<int>(g);
  }
  if (given("gpus")) {
    const Json& gpus = doc["gpus"];
    if (!gpus.is_array() || gpus.empty()) {
      return FieldError("gpus", absl::StrCat("expected a list of device numbers, ", Got(gpus)));
    }
    spec.gpus.emplace();
    for (size_t i = 0; i < gpus.size(); ++i) {
      MLCORE_ASSIGN_OR_RETURN(int64_t g, Integer(absl::StrCat("gpus[", i, "]"), gpus[i], 0));
      spec.gpus->push_back(static_cast<int>(g));
    }
  }
  if (!spec.n_trials && !spec.timeout) {
    return FieldError("n_trials",
                      "missing (give n_trials or timeout, else the study would never end)");
  }
  return absl::OkStatus();
}

bool IsNameChar(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && c >= '0' && c <= '9');
}

// Unknown placeholders ({name} or ${trialParameters.name}) fail at load, not in every trial.
Status CheckPlaceholders(const StudySpec& spec) {
  std::set<std::string> names = {"trial_number"};
  for (const SearchSpace::Param& p : spec.space.params()) names.insert(p.name);
  const std::string& c = spec.command;
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i] != '{' || (i > 0 && c[i - 1] == '$' && c.compare(i + 1, 16, "trialParameters.") != 0))
      continue;
    size_t start = i + 1;
    if (i > 0 && c[i - 1] == '$') start += 16;  // ${trialParameters.name}
    size_t end = start;
    while (end < c.size() && IsNameChar(c[end], end == start)) ++end;
    if (end == start || end >= c.size() || c[end] != '}') continue;
    const std::string name = c.substr(start, end - start);
    if (!names.count(name)) {
      names.erase("trial_number");
      return FieldError("command",
                        absl::StrCat("placeholder {", name, "} is not a parameter of space ",
                                     "(parameters: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<StudySpec> StudySpecFromJson(std::string_view json) {
  const Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("the spec is not valid JSON");
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a mapping (a Katib Experiment or an mlcore study spec), ", Got(doc)));
  }
  for (const auto& item : doc.items()) {
    const std::string& key = item.key();
    if (std::find_if(kTopFields.begin(), kTopFields.end(),
                     [&](const char* f) { return key == f; }) == kTopFields.end()) {
      return FieldError(
          key, absl::StrCat("unknown field (allowed: ", absl::StrJoin(kTopFields, ", "), ")"));
    }
  }
  StudySpec spec;
  MLCORE_RETURN_IF_ERROR(ReadIdentity(doc, spec));
  MLCORE_RETURN_IF_ERROR(ReadPruner(doc, spec));
  const Json& space = doc["space"];
  if (!space.is_object() || space.empty()) {
    return FieldError("space", absl::StrCat("expected a mapping of parameter names, ", Got(space)));
  }
  for (const auto& [name, entry] : space.items()) {
    MLCORE_ASSIGN_OR_RETURN(Distribution d, ParseDistribution("space." + name, entry));
    MLCORE_RETURN_IF_ERROR(spec.space.Add(name, d));
  }
  MLCORE_RETURN_IF_ERROR(ReadBudget(doc, spec));
  MLCORE_RETURN_IF_ERROR(CheckPlaceholders(spec));
  return spec;
}

PrunerOptions StudySpec::MakePrunerOptions() const {
  PrunerOptions o;
  const std::map<std::string, int64_t*> wide = {{"start_step", &o.start_step},
                                                {"min_resource", &o.min_resource},
                                                {"max_resource", &o.max_resource}};
  const std::map<std::string, int*> narrow = {
      {"min_trials_required", &o.min_trials_required},
      {"reduction_factor", &o.reduction_factor},
      {"min_early_stopping_rate", &o.min_early_stopping_rate}};
  for (const auto& [key, value] : pruner_options) {
    if (auto it = wide.find(key); it != wide.end()) *it->second = value;
    if (auto it = narrow.find(key); it != narrow.end()) *it->second = static_cast<int>(value);
  }
  return o;
}

}  // namespace mlcore::hpo

#include "mlcore/pipeline/component.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "mlcore/store/artifact_store.h"
#include "pipeline/code_version.h"
#include "pipeline/placeholders.h"

namespace mlcore::pipeline {
namespace {

constexpr std::pair<ValueType, const char*> kTypeNames[] = {
    {ValueType::kInt, "int"},           {ValueType::kFloat, "float"},
    {ValueType::kString, "str"},        {ValueType::kBool, "bool"},
    {ValueType::kList, "list"},         {ValueType::kDict, "dict"},
    {ValueType::kArtifact, "Artifact"}, {ValueType::kDataset, "Dataset"},
    {ValueType::kModel, "Model"},       {ValueType::kMetrics, "Metrics"},
};

bool ValidIoName(const std::string& name) {
  static const std::regex kName("[A-Za-z][A-Za-z0-9_]*");
  return std::regex_match(name, kName);
}

Status CheckIo(const Component& c, const std::vector<IoSpec>& specs, const char* kind) {
  for (size_t i = 0; i < specs.size(); ++i) {
    const IoSpec& s = specs[i];
    if (!ValidIoName(s.name)) {
      return absl::InvalidArgumentError(absl::StrCat("component '", c.name, "': ", kind, " name '",
                                                     s.name, "' is not an identifier"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (specs[j].name == s.name) {
        return absl::InvalidArgumentError(
            absl::StrCat("component '", c.name, "': duplicate ", kind, " '", s.name, "'"));
      }
    }
    if (s.default_value.has_value()) {
      if (IsArtifactType(s.type)) {
        return absl::InvalidArgumentError(absl::StrCat("component '", c.name, "': artifact ", kind,
                                                       " '", s.name, "' cannot have a default"));
      }
      if (!s.default_value->is_null()) {
        Status st = CheckParameterValue(s.type, *s.default_value);
        if (!st.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("component '", c.name, "': default of ",
                                                         kind, " '", s.name, "': ", st.message()));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* ValueTypeName(ValueType type) {
  for (const auto& [t, name] : kTypeNames) {
    if (t == type) return name;
  }
  return "?";
}

StatusOr<ValueType> ParseValueType(std::string_view name) {
  for (const auto& [t, n] : kTypeNames) {
    if (name == n) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown type '", std::string(name),
                   "' (expected int, float, str, bool, list, dict, Artifact, Dataset, Model or "
                   "Metrics)"));
}

bool IsArtifactType(ValueType type) {
  return type == ValueType::kArtifact || type == ValueType::kDataset || type == ValueType::kModel ||
         type == ValueType::kMetrics;
}

bool TypeAccepts(ValueType to, ValueType from) {
  if (to == from) return true;
  if (to == ValueType::kArtifact) return IsArtifactType(from);
  if (from == ValueType::kArtifact) return IsArtifactType(to);  // checked again at run time
  if (to == ValueType::kFloat && from == ValueType::kInt) return true;
  return false;
}

Status CheckParameterValue(ValueType type, const Json& value) {
  bool ok = false;
  switch (type) {
    case ValueType::kInt:
      ok = value.is_number_integer();
      break;
    case ValueType::kFloat:
      ok = value.is_number();
      break;
    case ValueType::kString:
      ok = value.is_string();
      break;
    case ValueType::kBool:
      ok = value.is_boolean();
      break;
    case ValueType::kList:
      ok = value.is_array();
      break;
    case ValueType::kDict:
      ok = value.is_object();
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("a ", ValueTypeName(type), " artifact cannot be given as a constant value"));
  }
  if (ok) return absl::OkStatus();
  std::string shown = value.dump();
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  return absl::InvalidArgumentError(
      absl::StrCat("expected ", ValueTypeName(type), ", got ", value.type_name(), " ", shown));
}

Status Component::Validate() const {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]*");
  if (!std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("component name '", name, "' must be letters, digits, '_', '-', '.'"));
  }
  MLCORE_RETURN_IF_ERROR(CheckIo(*this, inputs, "input"));
  MLCORE_RETURN_IF_ERROR(CheckIo(*this, outputs, "output"));
  for (const IoSpec& in : inputs) {
    if (in.list && !IsArtifactType(in.type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("component '", name, "' input '", in.name, "': only artifact inputs take a ",
                       "list of artifacts (a list of parameters is a 'list' input)"));
    }
  }
  for (const IoSpec& out : outputs) {
    if (out.list) {
      return absl::InvalidArgumentError(absl::StrCat("component '", name, "' output '", out.name,
                                                     "': an output is one artifact, not a list"));
    }
    if (FindInput(out.name) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("component '", name, "': '", out.name, "' is both an input and an output"));
    }
  }
  if (static_cast<bool>(fn) == !command.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("component '", name, "' needs exactly one of a callable and a command line"));
  }
  if (retry.max_retries < 0 || retry.backoff < absl::ZeroDuration() || retry.backoff_factor < 1.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "component '", name, "': retries must be >= 0, backoff >= 0 and backoff factor >= 1"));
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("component '", name, "': timeout must be positive"));
  }
  if (resources.cpu < 0 || resources.gpu < 0 || resources.memory_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("component '", name, "': resources must not be negative"));
  }
  for (const std::string& arg : command) {
    MLCORE_RETURN_IF_ERROR(internal::CheckPlaceholders(*this, arg));
  }
  for (const std::string& arg : compile_command) {
    MLCORE_RETURN_IF_ERROR(internal::CheckPlaceholders(*this, arg));
  }
  return absl::OkStatus();
}

const IoSpec* Component::FindInput(std::string_view n) const {
  for (const IoSpec& s : inputs) {
    if (s.name == n) return &s;
  }
  return nullptr;
}

const IoSpec* Component::FindOutput(std::string_view n) const {
  for (const IoSpec& s : outputs) {
    if (s.name == n) return &s;
  }
  return nullptr;
}

std::string Component::EffectiveCodeVersion() const {
  if (!fn || !code_version.empty()) return code_version;
  return CallableCodeVersion(fn);
}

std::string Component::DefinitionDigest() const {
  Json j;
  j["name"] = name;
  auto io = [](const std::vector<IoSpec>& specs) {
    Json a = Json::array();
    for (const IoSpec& s : specs) {
      Json e = {{"name", s.name}, {"type", ValueTypeName(s.type)}};
      if (s.default_value) e["default"] = *s.default_value;
      if (s.list) e["list"] = true;  // only when set: existing digests (and caches) stay
      a.push_back(e);
    }
    return a;
  };
  j["inputs"] = io(inputs);
  j["outputs"] = io(outputs);
  j["command"] = command;
  j["env"] = env;
  j["image"] = image;
  if (!packages_to_install.empty()) j["packages_to_install"] = packages_to_install;
  j["code_version"] = EffectiveCodeVersion();
  j["kind"] = fn ? "callable" : "command";
  auto digest = store::Sha256Hex(j.dump());
  return digest.ok() ? *digest : std::string();
}

void Interrupter::Set(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  fn_ = std::move(fn);
}

void Interrupter::Fire() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn.swap(fn_);
  }
  if (fn) fn();
}

std::string TaskContext::ExecutorInput() const {
  Json j;
  j["run_id"] = run_id;
  j["task"] = task_name;
  j["attempt"] = attempt;
  j["gpus"] = gpus;
  j["task_dir"] = task_dir;
  j["parameters"] = Json::object();
  for (const auto& [k, v] : params) j["parameters"][k] = v;
  auto refs = [](const std::map<std::string, ArtifactRef>& m, bool output) {
    Json o = Json::object();
    for (const auto& [k, r] : m) {
      Json e = {{"type", ValueTypeName(r.type)}, {"path", r.path}, {"metadata", r.metadata}};
      if (output) {
        e["metadata_path"] = r.path + ".metadata.json";
      } else {
        e["digest"] = r.digest;
      }
      o[k] = e;
    }
    return o;
  };
  j["inputs"] = refs(inputs, false);
  // A list input is a JSON list of entries (lists of lists across nested loops).
  std::function<Json(const ArtifactList&)> list = [&](const ArtifactList& l) {
    Json a = Json::array();
    for (const ArtifactRef& r : l.artifacts) {
      a.push_back({{"type", ValueTypeName(r.type)},
                   {"path", r.path},
                   {"metadata", r.metadata},
                   {"digest", r.digest}});
    }
    for (const ArtifactList& nested : l.lists) a.push_back(list(nested));
    return a;
  };
  for (const auto& [k, l] : input_lists) j["inputs"][k] = list(l);
  j["outputs"] = refs(outputs, true);
  j["output_parameters"] = Json::object();
  for (const auto& [k, p] : output_param_paths) j["output_parameters"][k] = p;
  return j.dump();
}

}  // namespace mlcore::pipeline

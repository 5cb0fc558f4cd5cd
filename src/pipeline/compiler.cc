#include "mlcore/pipeline/compiler.h"

#include <cmath>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/strings.h"

namespace mlcore::pipeline {
namespace {

const char* KfpParameterType(ValueType t) {
  switch (t) {
    case ValueType::kInt:
      return "NUMBER_INTEGER";
    case ValueType::kFloat:
      return "NUMBER_DOUBLE";
    case ValueType::kString:
      return "STRING";
    case ValueType::kBool:
      return "BOOLEAN";
    case ValueType::kList:
      return "LIST";
    default:
      return "STRUCT";
  }
}

Json ArtifactType(ValueType t) {
  return {{"schemaTitle", absl::StrCat("system.", ValueTypeName(t))}, {"schemaVersion", "0.0.1"}};
}

// Our placeholders become KFP's ({{$.inputs.parameters['x']}}, ...).
std::string KfpPlaceholders(const std::string& arg) {
  static const std::regex kIn(R"(\{\{inputs\.parameters\.([A-Za-z0-9_]+)\}\})");
  static const std::regex kInArt(R"(\{\{inputs\.artifacts\.([A-Za-z0-9_]+)\.path\}\})");
  static const std::regex kOutArt(R"(\{\{outputs\.artifacts\.([A-Za-z0-9_]+)\.path\}\})");
  static const std::regex kOutPar(R"(\{\{outputs\.parameters\.([A-Za-z0-9_]+)\.path\}\})");
  std::string s = std::regex_replace(arg, kIn, "{{$$.inputs.parameters['$1']}}");
  s = std::regex_replace(s, kInArt, "{{$$.inputs.artifacts['$1'].path}}");
  s = std::regex_replace(s, kOutArt, "{{$$.outputs.artifacts['$1'].path}}");
  s = std::regex_replace(s, kOutPar, "{{$$.outputs.parameters['$1'].output_file}}");
  return s;
}

std::string DurationText(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d), "s"); }

std::string CelLiteral(const Json& v) {
  if (v.is_string()) {
    return "'" + absl::StrReplaceAll(v.get<std::string>(), {{"\\", "\\\\"}, {"'", "\\'"}}) + "'";
  }
  return v.dump();
}

std::string Channel(const InputBinding& b) {
  return b.kind == InputBinding::Kind::kParameter
             ? absl::StrCat("pipelinechannel--", b.parameter)
             : absl::StrCat("pipelinechannel--", b.task, "-", b.output);
}

Json ParameterSpec(const IoSpec& s) {
  Json j = {{"parameterType", KfpParameterType(s.type)}};
  if (s.default_value) {
    j["defaultValue"] = *s.default_value;
    j["isOptional"] = true;
  }
  return j;
}

Json BindingSpec(const InputBinding& b) {
  switch (b.kind) {
    case InputBinding::Kind::kConstant:
      return {{"runtimeValue", {{"constant", b.constant}}}};
    case InputBinding::Kind::kParameter:
      return {{"componentInputParameter", b.parameter}};
    case InputBinding::Kind::kTaskOutput:
      return {
          {"taskOutputParameter", {{"producerTask", b.task}, {"outputParameterKey", b.output}}}};
  }
  return nullptr;
}

}  // namespace

StatusOr<Json> CompileToKfp(const Pipeline& pipeline, const CompileOptions& options) {
  Json components = Json::object();
  Json executors = Json::object();
  Json tasks = Json::object();
  for (const Task& t : pipeline.tasks()) {
    const Component& c = *t.component;
    std::vector<std::string> command = c.command.empty() ? c.compile_command : c.command;
    if (command.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "task '", t.name, "': component '", c.name,
          "' is an in-process callable with no compile_command, so Kubeflow has nothing to run"));
    }
    const std::string comp_name = "comp-" + t.name;
    const std::string exec_name = "exec-" + t.name;
    Json comp = {{"executorLabel", exec_name}};
    Json in_params = Json::object(), in_arts = Json::object();
    for (const IoSpec& s : c.inputs) {
      if (IsArtifactType(s.type)) {
        in_arts[s.name] = {{"artifactType", ArtifactType(s.type)}};
      } else {
        in_params[s.name] = ParameterSpec(s);
      }
    }
    Json out_params = Json::object(), out_arts = Json::object();
    for (const IoSpec& s : c.outputs) {
      if (IsArtifactType(s.type)) {
        out_arts[s.name] = {{"artifactType", ArtifactType(s.type)}};
      } else {
        out_params[s.name] = {{"parameterType", KfpParameterType(s.type)}};
      }
    }

    Json task = {{"taskInfo", {{"name", t.name}}}, {"componentRef", {{"name", comp_name}}}};
    Json task_params = Json::object(), task_arts = Json::object();
    for (const auto& [name, b] : t.arguments) {
      if (b.kind == InputBinding::Kind::kCollect) {
        return absl::UnimplementedError(absl::StrCat(
            "task '", t.name, "' input '", name,
            "' gathers several outputs into a list, which does not compile for Kubeflow yet"));
      }
      const IoSpec* spec = c.FindInput(name);
      if (IsArtifactType(spec->type)) {
        task_arts[name] = {
            {"taskOutputArtifact", {{"producerTask", b.task}, {"outputArtifactKey", b.output}}}};
      } else {
        task_params[name] = BindingSpec(b);
      }
    }
    std::string condition;
    for (const Condition& cond : t.options.conditions) {
      std::string channel = Channel(cond.lhs);
      Json lhs_spec;
      ValueType lhs_type = ValueType::kString;
      if (cond.lhs.kind == InputBinding::Kind::kConstant) {
        continue;
      }
      if (cond.lhs.kind == InputBinding::Kind::kParameter) {
        for (const IoSpec& p : pipeline.parameters()) {
          if (p.name == cond.lhs.parameter) lhs_type = p.type;
        }
      } else {
        lhs_type = pipeline.OutputType(cond.lhs.task, cond.lhs.output).value_or(lhs_type);
      }
      task_params[channel] = BindingSpec(cond.lhs);
      in_params[channel] = {{"parameterType", KfpParameterType(lhs_type)}};
      std::string value = absl::StrCat("inputs.parameter_values['", channel, "']");
      if (lhs_type == ValueType::kInt) value = absl::StrCat("int(", value, ")");
      if (lhs_type == ValueType::kFloat) value = absl::StrCat("double(", value, ")");
      std::string expr = absl::StrCat(value, " ", cond.op, " ", CelLiteral(cond.rhs));
      if (cond.negate) expr = absl::StrCat("!(", expr, ")");
      condition = condition.empty() ? expr : absl::StrCat(condition, " && ", expr);
    }
    if (!in_params.empty()) comp["inputDefinitions"]["parameters"] = in_params;
    if (!in_arts.empty()) comp["inputDefinitions"]["artifacts"] = in_arts;
    if (!out_params.empty()) comp["outputDefinitions"]["parameters"] = out_params;
    if (!out_arts.empty()) comp["outputDefinitions"]["artifacts"] = out_arts;
    components[comp_name] = comp;

    if (!task_params.empty()) task["inputs"]["parameters"] = task_params;
    if (!task_arts.empty()) task["inputs"]["artifacts"] = task_arts;
    std::vector<std::string> up = t.Upstream();
    if (!up.empty()) task["dependentTasks"] = up;
    task["cachingOptions"] = {{"enableCache", t.options.caching.value_or(c.caching)}};
    RetryPolicy retry = t.options.retry.value_or(c.retry);
    if (retry.max_retries > 0) {
      task["retryPolicy"] = {{"maxRetryCount", retry.max_retries},
                             {"backoffDuration", DurationText(retry.backoff)},
                             {"backoffFactor", retry.backoff_factor},
                             {"backoffMaxDuration", DurationText(retry.max_backoff)}};
    }
    if (!condition.empty()) task["triggerPolicy"]["condition"] = condition;
    if (t.options.run_always) task["triggerPolicy"]["strategy"] = "ALL_UPSTREAM_TASKS_COMPLETED";
    tasks[t.name] = task;

    Json container = {{"image", c.image}};
    std::vector<std::string> args;
    for (const std::string& a : command) args.push_back(KfpPlaceholders(a));
    container["command"] = args;
    if (!c.env.empty()) {
      Json env = Json::array();
      for (const auto& [k, v] : c.env) env.push_back({{"name", k}, {"value", v}});
      container["env"] = env;
    }
    Json resources = Json::object();
    if (c.resources.cpu > 0) {
      resources["resourceCpuLimit"] = absl::StrCat(c.resources.cpu);
      resources["cpuLimit"] = c.resources.cpu;
    }
    if (c.resources.memory_bytes > 0) {
      resources["resourceMemoryLimit"] = absl::StrCat(c.resources.memory_bytes);
      resources["memoryLimit"] = static_cast<double>(c.resources.memory_bytes) / 1e9;
    }
    if (c.resources.gpu > 0) {
      resources["accelerator"] = {{"resourceType", options.accelerator_type},
                                  {"resourceCount", absl::StrCat(c.resources.gpu)},
                                  {"type", options.accelerator_type},
                                  {"count", c.resources.gpu}};
    }
    if (!resources.empty()) container["resources"] = resources;
    executors[exec_name] = {{"container", container}};
  }

  Json root = {{"dag", {{"tasks", tasks}}}};
  Json params = Json::object();
  for (const IoSpec& s : pipeline.parameters()) params[s.name] = ParameterSpec(s);
  if (!params.empty()) root["inputDefinitions"]["parameters"] = params;
  for (const PipelineOutput& o : pipeline.outputs()) {
    ValueType type = pipeline.OutputType(o.task, o.output).value_or(ValueType::kString);
    if (IsArtifactType(type)) {
      root["outputDefinitions"]["artifacts"][o.name] = {{"artifactType", ArtifactType(type)}};
      root["dag"]["outputs"]["artifacts"][o.name] = {
          {"artifactSelectors",
           Json::array({{{"producerSubtask", o.task}, {"outputArtifactKey", o.output}}})}};
    } else {
      root["outputDefinitions"]["parameters"][o.name] = {{"parameterType", KfpParameterType(type)}};
      root["dag"]["outputs"]["parameters"][o.name] = {
          {"valueFromParameter", {{"producerSubtask", o.task}, {"outputParameterKey", o.output}}}};
    }
  }
  Json spec;
  spec["pipelineInfo"] = {{"name", pipeline.name()}};
  spec["sdkVersion"] = options.sdk_version;
  spec["schemaVersion"] = "2.1.0";
  spec["components"] = components;
  spec["deploymentSpec"] = {{"executors", executors}};
  spec["root"] = root;
  return spec;
}

namespace {

bool PlainKey(const std::string& k) {
  static const std::regex kPlain("[A-Za-z_][A-Za-z0-9_.-]*");
  return std::regex_match(k, kPlain) && k != "true" && k != "false" && k != "null" && k != "yes" &&
         k != "no" && k != "on" && k != "off";
}

std::string Key(const std::string& k) { return PlainKey(k) ? k : Json(k).dump(); }

std::string Scalar(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    std::string s = v.dump();
    // YAML needs a float to look like one; JSON may print 2.0 as "2.0" already.
    if (s.find_first_of(".eE") == std::string::npos && std::isfinite(d)) s += ".0";
    return s;
  }
  return v.dump();  // strings double-quoted with JSON escapes: valid YAML
}

void Emit(const Json& v, int indent, std::ostringstream& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [k, child] : v.items()) {
      out << pad << Key(k) << ":";
      if ((child.is_object() || child.is_array()) && !child.empty()) {
        out << "\n";
        Emit(child, indent + 2, out);
      } else if (child.is_object()) {
        out << " {}\n";
      } else if (child.is_array()) {
        out << " []\n";
      } else {
        out << " " << Scalar(child) << "\n";
      }
    }
  } else if (v.is_array()) {
    for (const Json& child : v) {
      if (child.is_object() && !child.empty()) {
        // "- " then the first key on the same line, the rest indented under it.
        std::ostringstream inner;
        Emit(child, indent + 2, inner);
        std::string text = inner.str();
        out << pad << "- " << text.substr(indent + 2);
      } else if (child.is_array() && !child.empty()) {
        out << pad << "-\n";
        Emit(child, indent + 2, out);
      } else if (child.is_object()) {
        out << pad << "- {}\n";
      } else if (child.is_array()) {
        out << pad << "- []\n";
      } else {
        out << pad << "- " << Scalar(child) << "\n";
      }
    }
  } else {
    out << pad << Scalar(v) << "\n";
  }
}

}  // namespace

std::string ToYaml(const Json& value) {
  std::ostringstream out;
  Emit(value, 0, out);
  return out.str();
}

StatusOr<std::string> CompileToKfpYaml(const Pipeline& pipeline, const CompileOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(Json spec, CompileToKfp(pipeline, options));
  return ToYaml(spec);
}

}  // namespace mlcore::pipeline

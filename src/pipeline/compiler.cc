#include "mlcore/pipeline/compiler.h"

#include <cmath>
#include <map>
#include <regex>
#include <set>
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

// KFP's name for a value passed into a sub-DAG or compared by a condition.
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

// A value a DAG's task reads from outside its DAG: a loop body's view of a pipeline parameter
// or of a task output outside the loop, passed in as a component input of the loop's DAG.
struct Outside {
  InputBinding source;  // as the pipeline binds it (kParameter or kTaskOutput)
  ValueType type;
};

// Where a task is compiled: the root DAG, or a loop's sub-DAG (which names what it needs from
// outside and what it hands back, gathered, to tasks after the loop).
struct DagScope {
  const Loop* loop = nullptr;
  std::string item_input;                 // the loop item's input name
  std::map<std::string, Outside> inputs;  // channel -> what feeds it
  std::map<std::string, Json> outputs;    // channel -> valueFromParameter
};

std::string LoopItemInput(const Loop& loop) {
  switch (loop.items.kind) {
    case InputBinding::Kind::kTaskOutput:
    case InputBinding::Kind::kParameter:
      return Channel(loop.items) + "-loop-item";
    default:
      return absl::StrCat("pipelinechannel--", loop.name, "-loop-item");
  }
}

class DagCompiler {
 public:
  DagCompiler(const Pipeline& p, const CompileOptions& o) : pipeline_(p), options_(o) {}

  StatusOr<Json> Compile();

 private:
  // The name a task is seen by from the root DAG: its own, or its loop's.
  std::string RootName(const std::string& task) const {
    const Task* t = pipeline_.FindTask(task);
    return t == nullptr || t->options.loop.empty() ? task : t->options.loop;
  }
  ValueType ParameterType(const std::string& name) const {
    for (const IoSpec& p : pipeline_.parameters()) {
      if (p.name == name) return p.type;
    }
    return ValueType::kString;
  }
  // The task input spec of binding `b` read by a task in `scope` (registering what a loop's DAG
  // needs from outside). `artifact`: an artifact input.
  StatusOr<Json> Binding(const Task& t, const std::string& input, const InputBinding& b,
                         bool artifact, DagScope& scope);
  Status CompileTask(const Task& t, DagScope& scope, Json* dag_tasks);
  Json LoopTask(const Loop& loop, const DagScope& inner);

  const Pipeline& pipeline_;
  const CompileOptions& options_;
  Json components_ = Json::object();
  Json executors_ = Json::object();
};

StatusOr<Json> DagCompiler::Binding(const Task& t, const std::string& input, const InputBinding& b,
                                    bool artifact, DagScope& scope) {
  const bool in_loop = scope.loop != nullptr;
  switch (b.kind) {
    case InputBinding::Kind::kConstant:
      return Json{{"runtimeValue", {{"constant", b.constant}}}};
    case InputBinding::Kind::kParameter:
      if (!in_loop) return Json{{"componentInputParameter", b.parameter}};
      scope.inputs[Channel(b)] = {b, ParameterType(b.parameter)};
      return Json{{"componentInputParameter", Channel(b)}};
    case InputBinding::Kind::kTaskOutput: {
      const Task* producer = pipeline_.FindTask(b.task);
      const bool outside = in_loop && producer->options.loop != scope.loop->name;
      if (!outside) {
        if (artifact) {
          return Json{
              {"taskOutputArtifact", {{"producerTask", b.task}, {"outputArtifactKey", b.output}}}};
        }
        return Json{
            {"taskOutputParameter", {{"producerTask", b.task}, {"outputParameterKey", b.output}}}};
      }
      scope.inputs[Channel(b)] = {b, pipeline_.OutputType(b.task, b.output).value()};
      return Json{{artifact ? "componentInputArtifact" : "componentInputParameter", Channel(b)}};
    }
    case InputBinding::Kind::kLoopItem: {
      Json j = {{"componentInputParameter", scope.item_input}};
      if (!b.field.empty()) {
        j["parameterExpressionSelector"] =
            absl::StrCat("parseJson(string_value)[", Json(b.field).dump(), "]");
      }
      return j;
    }
    case InputBinding::Kind::kGather: {
      const Task* producer = pipeline_.FindTask(b.task);
      if (in_loop) {
        return absl::UnimplementedError(absl::StrCat("task '", t.name, "' input '", input,
                                                     "' collects a loop inside another loop"));
      }
      return Json{{"taskOutputParameter",
                   {{"producerTask", producer->options.loop}, {"outputParameterKey", Channel(b)}}}};
    }
    case InputBinding::Kind::kCollect:
      break;
  }
  return absl::UnimplementedError(absl::StrCat(
      "task '", t.name, "' input '", input,
      "' gathers several outputs into a list, which does not compile for Kubeflow yet"));
}

Status DagCompiler::CompileTask(const Task& t, DagScope& scope, Json* dag_tasks) {
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
    const bool artifact = IsArtifactType(c.FindInput(name)->type);
    MLCORE_ASSIGN_OR_RETURN(Json spec, Binding(t, name, b, artifact, scope));
    (artifact ? task_arts : task_params)[name] = spec;
  }
  std::string condition;
  for (const Condition& cond : t.options.conditions) {
    if (cond.lhs.kind == InputBinding::Kind::kConstant) continue;
    ValueType lhs_type = ValueType::kString;
    std::string channel;
    if (cond.lhs.kind == InputBinding::Kind::kParameter) {
      lhs_type = ParameterType(cond.lhs.parameter);
      channel = Channel(cond.lhs);
    } else if (cond.lhs.kind == InputBinding::Kind::kLoopItem) {
      // The item's type is known only at run time; KFP compares it as it arrives.
      channel = scope.item_input + (cond.lhs.field.empty() ? "" : "-" + cond.lhs.field);
      lhs_type = ValueType::kDict;
    } else {
      lhs_type = pipeline_.OutputType(cond.lhs.task, cond.lhs.output).value_or(lhs_type);
      channel = Channel(cond.lhs);
    }
    MLCORE_ASSIGN_OR_RETURN(task_params[channel], Binding(t, channel, cond.lhs, false, scope));
    in_params[channel] = {{"parameterType", cond.lhs.kind == InputBinding::Kind::kLoopItem
                                                ? "STRING"
                                                : KfpParameterType(lhs_type)}};
    std::string value = absl::StrCat("inputs.parameter_values['", channel, "']");
    Json rhs = cond.rhs;
    if (lhs_type == ValueType::kInt) value = absl::StrCat("int(", value, ")");
    if (lhs_type == ValueType::kFloat) value = absl::StrCat("double(", value, ")");
    if (cond.lhs.kind == InputBinding::Kind::kLoopItem && rhs.is_number()) {
      value = absl::StrCat("double(", value, ")");
    }
    std::string expr = absl::StrCat(value, " ", cond.op, " ", CelLiteral(rhs));
    if (cond.negate) expr = absl::StrCat("!(", expr, ")");
    condition = condition.empty() ? expr : absl::StrCat(condition, " && ", expr);
  }
  if (!in_params.empty()) comp["inputDefinitions"]["parameters"] = in_params;
  if (!in_arts.empty()) comp["inputDefinitions"]["artifacts"] = in_arts;
  if (!out_params.empty()) comp["outputDefinitions"]["parameters"] = out_params;
  if (!out_arts.empty()) comp["outputDefinitions"]["artifacts"] = out_arts;
  components_[comp_name] = comp;

  if (!task_params.empty()) task["inputs"]["parameters"] = task_params;
  if (!task_arts.empty()) task["inputs"]["artifacts"] = task_arts;
  // Dependencies within this DAG only: a loop body's outside dependencies are the loop's.
  std::set<std::string> up;
  for (const std::string& u : t.Upstream()) {
    const Task* ut = pipeline_.FindTask(u);
    if (scope.loop != nullptr) {
      if (ut->options.loop == scope.loop->name) up.insert(u);
    } else {
      up.insert(RootName(u));
    }
  }
  if (!up.empty()) task["dependentTasks"] = std::vector<std::string>(up.begin(), up.end());
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
  (*dag_tasks)[t.name] = task;

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
    resources["accelerator"] = {{"resourceType", options_.accelerator_type},
                                {"resourceCount", absl::StrCat(c.resources.gpu)},
                                {"type", options_.accelerator_type},
                                {"count", c.resources.gpu}};
  }
  if (!resources.empty()) container["resources"] = resources;
  executors_[exec_name] = {{"container", container}};
  return absl::OkStatus();
}

// The loop as a task of the root DAG: its sub-DAG component iterated over its items, fed the
// outside values its body reads.
Json DagCompiler::LoopTask(const Loop& loop, const DagScope& inner) {
  Json task = {{"taskInfo", {{"name", loop.name}}},
               {"componentRef", {{"name", "comp-" + loop.name}}}};
  Json params = Json::object(), arts = Json::object();
  std::set<std::string> up;
  auto feed = [&](const std::string& channel, const InputBinding& b, bool artifact) {
    if (b.kind == InputBinding::Kind::kParameter) {
      params[channel] = {{"componentInputParameter", b.parameter}};
    } else if (artifact) {
      arts[channel] = {
          {"taskOutputArtifact", {{"producerTask", b.task}, {"outputArtifactKey", b.output}}}};
      up.insert(RootName(b.task));
    } else {
      params[channel] = {
          {"taskOutputParameter", {{"producerTask", b.task}, {"outputParameterKey", b.output}}}};
      up.insert(RootName(b.task));
    }
  };
  Json iterator = {{"itemInput", inner.item_input}};
  if (loop.items.kind == InputBinding::Kind::kConstant) {
    iterator["items"]["raw"] = loop.items.constant.dump();
  } else {
    feed(Channel(loop.items), loop.items, false);
    iterator["items"]["inputParameter"] = Channel(loop.items);
  }
  for (const auto& [channel, o] : inner.inputs) feed(channel, o.source, IsArtifactType(o.type));
  // Order-only edges of the body to tasks outside.
  for (const std::string& b : loop.body) {
    for (const std::string& u : pipeline_.FindTask(b)->after) {
      if (pipeline_.FindTask(u)->options.loop != loop.name) up.insert(RootName(u));
    }
  }
  if (!params.empty()) task["inputs"]["parameters"] = params;
  if (!arts.empty()) task["inputs"]["artifacts"] = arts;
  if (!up.empty()) task["dependentTasks"] = std::vector<std::string>(up.begin(), up.end());
  task["parameterIterator"] = iterator;
  if (loop.parallelism > 0) task["iteratorPolicy"]["parallelismLimit"] = loop.parallelism;
  return task;
}

StatusOr<Json> DagCompiler::Compile() {
  Json root_tasks = Json::object();
  DagScope root;
  // Loops first, so that the outputs tasks after them collect are known.
  std::map<std::string, Json> loop_tasks;
  for (const Loop& loop : pipeline_.loops()) {
    DagScope inner;
    inner.loop = &loop;
    inner.item_input = LoopItemInput(loop);
    Json body = Json::object();
    for (const std::string& b : loop.body) {
      MLCORE_RETURN_IF_ERROR(CompileTask(*pipeline_.FindTask(b), inner, &body));
    }
    // Every body output a later task collects leaves the loop as a list.
    for (const Task& t : pipeline_.tasks()) {
      for (const auto& [name, b] : t.arguments) {
        if (b.kind != InputBinding::Kind::kGather) continue;
        if (pipeline_.FindTask(b.task)->options.loop != loop.name) continue;
        inner.outputs[Channel(b)] = {
            {"valueFromParameter",
             {{"producerSubtask", b.task}, {"outputParameterKey", b.output}}}};
      }
    }
    Json comp = {{"dag", {{"tasks", body}}}};
    Json in_params = Json::object(), in_arts = Json::object();
    if (loop.items.kind != InputBinding::Kind::kConstant) {
      in_params[Channel(loop.items)] = {{"parameterType", "LIST"}};
    }
    in_params[inner.item_input] = {{"parameterType", "STRING"}};
    for (const auto& [channel, o] : inner.inputs) {
      if (IsArtifactType(o.type)) {
        in_arts[channel] = {{"artifactType", ArtifactType(o.type)}};
      } else {
        in_params[channel] = {{"parameterType", KfpParameterType(o.type)}};
      }
    }
    comp["inputDefinitions"]["parameters"] = in_params;
    if (!in_arts.empty()) comp["inputDefinitions"]["artifacts"] = in_arts;
    if (!inner.outputs.empty()) {
      for (const auto& [channel, sel] : inner.outputs) {
        comp["dag"]["outputs"]["parameters"][channel] = sel;
        comp["outputDefinitions"]["parameters"][channel] = {{"parameterType", "LIST"}};
      }
    }
    components_["comp-" + loop.name] = comp;
    loop_tasks[loop.name] = LoopTask(loop, inner);
  }
  // Root tasks, with each loop placed where its body was defined (dicts print sorted anyway).
  for (const Task& t : pipeline_.tasks()) {
    if (!t.options.loop.empty()) continue;
    MLCORE_RETURN_IF_ERROR(CompileTask(t, root, &root_tasks));
  }
  for (auto& [name, task] : loop_tasks) root_tasks[name] = task;

  Json root_spec = {{"dag", {{"tasks", root_tasks}}}};
  Json params = Json::object();
  for (const IoSpec& s : pipeline_.parameters()) params[s.name] = ParameterSpec(s);
  if (!params.empty()) root_spec["inputDefinitions"]["parameters"] = params;
  for (const PipelineOutput& o : pipeline_.outputs()) {
    ValueType type = pipeline_.OutputType(o.task, o.output).value_or(ValueType::kString);
    if (IsArtifactType(type)) {
      root_spec["outputDefinitions"]["artifacts"][o.name] = {{"artifactType", ArtifactType(type)}};
      root_spec["dag"]["outputs"]["artifacts"][o.name] = {
          {"artifactSelectors",
           Json::array({{{"producerSubtask", o.task}, {"outputArtifactKey", o.output}}})}};
    } else {
      root_spec["outputDefinitions"]["parameters"][o.name] = {
          {"parameterType", KfpParameterType(type)}};
      root_spec["dag"]["outputs"]["parameters"][o.name] = {
          {"valueFromParameter", {{"producerSubtask", o.task}, {"outputParameterKey", o.output}}}};
    }
  }
  Json spec;
  spec["pipelineInfo"] = {{"name", pipeline_.name()}};
  spec["sdkVersion"] = options_.sdk_version;
  spec["schemaVersion"] = "2.1.0";
  spec["components"] = components_;
  spec["deploymentSpec"] = {{"executors", executors_}};
  spec["root"] = root_spec;
  return spec;
}

}  // namespace

StatusOr<Json> CompileToKfp(const Pipeline& pipeline, const CompileOptions& options) {
  return DagCompiler(pipeline, options).Compile();
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

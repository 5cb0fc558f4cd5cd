// Compiles the pipeline's DAG the way KFP's compiler does: every ParallelFor and task group
// (If/Elif/Else branch, condition-branches wrapper, exit handler, pipeline used as a component)
// is a sub-DAG component, run by one task of the DAG around it. A task reading a value from
// outside its sub-DAG reads it through the sub-DAG's inputs (componentInputParameter, named
// `pipelinechannel--...` as KFP names them); a value leaving a sub-DAG goes through its dag
// outputs; dependencies are drawn between the first scopes of the two sides that differ.
#include "pipeline/compile_dag.h"

#include <algorithm>

#include "mlcore/pipeline/task_main.h"
#include "pipeline/dag_compiler.h"

namespace mlcore::pipeline::internal {
namespace dag_compile {

std::string DagCompiler::Describe(const std::string& scope) const {
  const Scope& s = scopes_.at(scope);
  if (s.loop != nullptr) {
    if (s.loop->name == scope) return absl::StrCat("ParallelFor '", scope, "'");
    return absl::StrCat("ParallelFor '", s.loop->name, "' (", scope, " on Kubeflow)");
  }
  switch (s.group->kind) {
    case TaskGroup::Kind::kCondition:
      return absl::StrCat("If/Elif/Else branch '", scope, "'");
    case TaskGroup::Kind::kConditionBranches:
      return absl::StrCat("If/Elif/Else chain '", scope, "'");
    case TaskGroup::Kind::kExitHandler:
      return absl::StrCat("ExitHandler '", scope, "'");
    case TaskGroup::Kind::kPipeline:
      return absl::StrCat("pipeline '", scope, "'");
  }
  return scope;
}

Status DagCompiler::BuildScopes() {
  KfpLoopNames names = NameLoopsAsKfp(p_);
  kfp_loops_ = std::move(names.loops);
  item_inputs_ = std::move(names.item_inputs);
  scopes_[""] = Scope{};
  for (const Loop& l : p_.loops()) {
    Scope s;
    s.name = KfpLoop(l.name);
    s.loop = &l;
    s.parent = ScopeFor(l.group, l.parent);
    scopes_[s.name] = std::move(s);
  }
  for (const TaskGroup& g : p_.groups()) {
    Scope s;
    s.name = g.name;
    s.group = &g;
    s.parent = ScopeFor(g.parent, g.loop);
    scopes_[g.name] = std::move(s);
  }
  // Children in the order they were declared: loops, then groups (dicts print sorted anyway).
  for (const Loop& l : p_.loops()) {
    scopes_[scopes_[KfpLoop(l.name)].parent].children.push_back(KfpLoop(l.name));
  }
  for (const TaskGroup& g : p_.groups()) {
    scopes_[scopes_[g.name].parent].children.push_back(g.name);
  }
  for (const Task& t : p_.tasks()) scopes_[ScopeOf(t.name)].tasks.push_back(&t);
  std::map<std::string, int> oneofs;  // per chain
  for (const Task& t : p_.tasks()) {
    for (const auto& [input, b] : t.arguments) {
      if (b.kind != Kind::kOneOf || oneof_keys_.count(OneOfId(b)) > 0) continue;
      const std::string chain = OneOfChain(b);
      oneof_keys_[OneOfId(b)] =
          absl::StrCat("pipelinechannel--", chain, "-oneof-", ++oneofs[chain]);
    }
  }
  return absl::OkStatus();
}

Status DagCompiler::TaskArguments(const Task& t, const std::string& s, Json* task_params,
                                  Json* task_arts) {
  const pipeline::Component& c = *t.component;
  for (const auto& [name, b] : t.arguments) {
    const std::string where = absl::StrCat("task '", t.name, "' input '", name, "'");
    if (b.kind == Kind::kCollect) {
      // As KFP: a constant list whose run-time elements are placeholders of extra task inputs.
      Json list = Json::array();
      for (const InputBinding& item : b.items) {
        if (item.kind == Kind::kConstant) {
          list.push_back(item.constant);
          continue;
        }
        std::string channel = item.kind == Kind::kLoopItem ? ItemChannel(item) : Channel(item);
        MLCORE_ASSIGN_OR_RETURN((*task_params)[channel], Resolve(s, item, false, where));
        list.push_back(absl::StrCat("{{$.inputs.parameters['", channel, "']}}"));
      }
      (*task_params)[name] = {{"runtimeValue", {{"constant", list}}}};
      continue;
    }
    const bool artifact = IsArtifactType(c.FindInput(name)->type);
    MLCORE_ASSIGN_OR_RETURN(Json spec, Resolve(s, b, artifact, where));
    (artifact ? *task_arts : *task_params)[name] = spec;
  }
  return absl::OkStatus();
}

StatusOr<std::string> DagCompiler::OwnConditions(const Task& t, const std::string& s,
                                                 Json* task_params, Json* in_params) {
  // Conditions of the task's groups are its groups' triggers; only its own ones remain here.
  const size_t inherited =
      std::min(p_.GroupConditions(t.options.group).size(), t.options.conditions.size());
  std::vector<Condition> own(t.options.conditions.begin() + inherited, t.options.conditions.end());
  for (const Condition& cond : own) {
    if (cond.lhs.kind == Kind::kConstant) continue;
    const std::string channel = ConditionChannel(cond);
    MLCORE_ASSIGN_OR_RETURN(
        (*task_params)[channel],
        Resolve(s, cond.lhs, false, absl::StrCat("task '", t.name, "' condition")));
    ValueType type = ValueType::kString;
    if (cond.lhs.kind == Kind::kParameter) type = ParameterType(cond.lhs.parameter);
    if (cond.lhs.kind == Kind::kTaskOutput) {
      type = p_.OutputType(cond.lhs.task, cond.lhs.output).value_or(type);
    }
    if (cond.lhs.kind == Kind::kLoopItem) type = ConstantItemType(p_, cond.lhs).value_or(type);
    (*in_params)[channel] = {{"parameterType", KfpParameterType(type)}};
  }
  return ConditionText(own, [&](const Condition& c) { return ConditionChannel(c); });
}

Status DagCompiler::CompileTask(const Task& t, const std::string& s, Json* dag_tasks) {
  const pipeline::Component& c = *t.component;
  std::vector<std::string> command = c.command.empty() ? c.compile_command : c.command;
  pipeline::Component with_runner;
  if (command.empty() && c.fn && !options_.task_binary.empty()) {
    // The C++ program itself runs the callable: RunTaskMain (task_main.h).
    command = TaskMainCommand(options_.task_binary, c.name);
    with_runner = c;
    if (!options_.task_image.empty()) with_runner.image = options_.task_image;
  }
  if (command.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task '", t.name, "': component '", c.name,
        "' is an in-process callable with no compile_command (and CompileOptions::task_binary "
        "is empty), so Kubeflow has nothing to run"));
  }
  const std::string comp_name = "comp-" + t.name;
  const std::string exec_name = "exec-" + t.name;
  Json comp = {{"executorLabel", exec_name}};
  Json in_params = Json::object(), in_arts = Json::object();
  for (const IoSpec& io : c.inputs) {
    if (IsArtifactType(io.type)) {
      in_arts[io.name] = {{"artifactType", ArtifactType(io.type)}};
      if (io.list) in_arts[io.name]["isArtifactList"] = true;
    } else {
      in_params[io.name] = ParameterSpec(io);
    }
  }
  Json out_params = Json::object(), out_arts = Json::object();
  for (const IoSpec& io : c.outputs) {
    if (IsArtifactType(io.type)) {
      out_arts[io.name] = {{"artifactType", ArtifactType(io.type)}};
    } else {
      out_params[io.name] = {{"parameterType", KfpParameterType(io.type)}};
    }
  }

  Json task = {{"taskInfo", {{"name", t.name}}}, {"componentRef", {{"name", comp_name}}}};
  Json task_params = Json::object(), task_arts = Json::object();
  MLCORE_RETURN_IF_ERROR(TaskArguments(t, s, &task_params, &task_arts));
  MLCORE_ASSIGN_OR_RETURN(std::string condition, OwnConditions(t, s, &task_params, &in_params));
  if (!in_params.empty()) comp["inputDefinitions"]["parameters"] = in_params;
  if (!in_arts.empty()) comp["inputDefinitions"]["artifacts"] = in_arts;
  if (!out_params.empty()) comp["outputDefinitions"]["parameters"] = out_params;
  if (!out_arts.empty()) comp["outputDefinitions"]["artifacts"] = out_arts;
  components_[comp_name] = comp;

  if (!task_params.empty()) task["inputs"]["parameters"] = task_params;
  if (!task_arts.empty()) task["inputs"]["artifacts"] = task_arts;
  std::set<std::string> deps;
  for (const std::string& u : t.Upstream()) AddDeps(s, u, &deps);
  if (!deps.empty()) task["dependentTasks"] = std::vector<std::string>(deps.begin(), deps.end());
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

  executors_[exec_name] =
      ExecutorSpec(with_runner.name.empty() ? c : with_runner, command, options_);
  return absl::OkStatus();
}

// Scope `child`'s trigger: its condition operands as its inputs, and the condition's text.
StatusOr<std::string> DagCompiler::ScopeTrigger(Scope& child) {
  const TaskGroup* g = child.group;
  for (const Condition& cond : g->conditions) {
    if (cond.lhs.kind == Kind::kConstant) continue;
    Outside& o = child.inputs[ConditionChannel(cond)];
    o.source = cond.lhs;
    if (cond.lhs.kind == Kind::kParameter) o.type = ParameterType(cond.lhs.parameter);
    if (cond.lhs.kind == Kind::kTaskOutput) {
      o.type = p_.OutputType(cond.lhs.task, cond.lhs.output).value_or(ValueType::kString);
      child.outside_deps.insert(cond.lhs.task);
    }
  }
  return ConditionText(g->conditions,
                       [&](const Condition& cond) { return ConditionChannel(cond); });
}

// Loop scope `child`'s parameterIterator, its items registered as an input unless constant.
Json DagCompiler::ScopeIterator(Scope& child) {
  const Loop* loop = child.loop;
  Json iterator;
  iterator["itemInput"] = ItemInput(loop->name);
  if (loop->items.kind == Kind::kConstant) {
    iterator["items"]["raw"] = loop->items.constant.dump();
  } else {
    // Over (a field of) an enclosing loop's item: its own input, apart from the whole item
    // that the body may read too.
    const std::string channel =
        loop->items.kind == Kind::kLoopItem ? ItemChannel(loop->items) : Channel(loop->items);
    Outside& o = child.inputs[channel];
    o.source = loop->items;
    o.type = ValueType::kList;
    if (loop->items.kind == Kind::kTaskOutput) child.outside_deps.insert(loop->items.task);
    iterator["items"]["inputParameter"] = channel;
  }
  return iterator;
}

// A pipeline used as a component: its parameters as its component's inputs, and the task
// input specs of the values bound to them.
Status DagCompiler::SubPipelineInputs(const std::string& s, Scope& child, const std::string& where,
                                      Json* params, Json* arts, Json* in_params, Json* in_arts) {
  const TaskGroup* g = child.group;
  for (const IoSpec& io : g->inputs) {
    if (IsArtifactType(io.type)) {
      (*in_arts)[io.name] = {{"artifactType", ArtifactType(io.type)}};
    } else {
      (*in_params)[io.name] = ParameterSpec(io);
    }
  }
  for (const auto& [name, b] : g->arguments) {
    const IoSpec* io = nullptr;
    for (const IoSpec& x : g->inputs) {
      if (x.name == name) io = &x;
    }
    const bool artifact = io != nullptr && IsArtifactType(io->type);
    MLCORE_ASSIGN_OR_RETURN(
        Json spec, Resolve(s, b, artifact, absl::StrCat(where, " parameter '", name, "'")));
    (artifact ? *arts : *params)[name] = spec;
    if (b.kind == Kind::kTaskOutput) child.outside_deps.insert(b.task);
  }
  return absl::OkStatus();
}

// The task of scope `s`'s DAG that runs child scope `c`, and the rest of `c`'s component (its
// inputs are known once its own DAG is compiled).
StatusOr<Json> DagCompiler::ScopeTask(const std::string& s, const std::string& c) {
  Scope& child = scopes_.at(c);
  const TaskGroup* g = child.group;
  const Loop* loop = child.loop;
  const std::string where = Describe(c);
  Json task = {
      {"taskInfo", {{"name", g != nullptr && !g->display_name.empty() ? g->display_name : c}}},
      {"componentRef", {{"name", "comp-" + c}}}};
  Json params = Json::object(), arts = Json::object();
  std::set<std::string> deps;
  // What the scope reads besides its body's inputs: its trigger's operands, its loop items.
  if (g != nullptr && g->kind == TaskGroup::Kind::kCondition) {
    MLCORE_ASSIGN_OR_RETURN(std::string text, ScopeTrigger(child));
    if (!text.empty()) task["triggerPolicy"]["condition"] = text;
  }
  Json iterator = loop == nullptr ? Json() : ScopeIterator(child);
  for (const auto& [channel, o] : child.inputs) {
    MLCORE_ASSIGN_OR_RETURN(Json spec, Resolve(s, o.source, o.artifact, where));
    (o.artifact ? arts : params)[channel] = spec;
  }
  Json in_params = Json::object(), in_arts = Json::object();
  if (g != nullptr && g->kind == TaskGroup::Kind::kPipeline) {
    MLCORE_RETURN_IF_ERROR(
        SubPipelineInputs(s, child, where, &params, &arts, &in_params, &in_arts));
  }
  // As KFP: a constant list's items are typed by its first element, a run-time one's not.
  if (loop != nullptr) {
    in_params[ItemInput(loop->name)] = {
        {"parameterType", ItemParameterType(InputBinding::LoopItem(loop->name))}};
  }
  for (const auto& [channel, o] : child.inputs) {
    if (o.artifact) {
      in_arts[channel] = {{"artifactType", ArtifactType(o.type)}};
      if (o.list) in_arts[channel]["isArtifactList"] = true;
    } else if (o.source.kind == Kind::kLoopItem && o.type != ValueType::kList) {
      in_params[channel] = {{"parameterType", ItemParameterType(o.source)}};
    } else {
      in_params[channel] = {{"parameterType", KfpParameterType(o.type)}};
    }
  }
  Json& comp = Component(c);
  if (!in_params.empty()) comp["inputDefinitions"]["parameters"] = in_params;
  if (!in_arts.empty()) comp["inputDefinitions"]["artifacts"] = in_arts;

  for (const std::string& u : child.outside_deps) AddDeps(s, u, &deps);
  if (!params.empty()) task["inputs"]["parameters"] = params;
  if (!arts.empty()) task["inputs"]["artifacts"] = arts;
  if (!deps.empty()) task["dependentTasks"] = std::vector<std::string>(deps.begin(), deps.end());
  if (g != nullptr && g->kind == TaskGroup::Kind::kPipeline) {
    task["cachingOptions"] = {{"enableCache", true}};
    // Everything the inner pipeline returns is an output of its component, read or not.
    for (const PipelineOutput& o : g->outputs) {
      MLCORE_RETURN_IF_ERROR(Export(c, o.task, o.output, where).status());
    }
  }
  if (loop != nullptr) {
    task["parameterIterator"] = iterator;
    if (loop->parallelism > 0) task["iteratorPolicy"]["parallelismLimit"] = loop->parallelism;
  }
  return task;
}

Status DagCompiler::CompileScope(const std::string& s) {
  const std::vector<std::string> children = scopes_.at(s).children;
  for (const std::string& c : children) MLCORE_RETURN_IF_ERROR(CompileScope(c));
  Json tasks = Json::object();
  for (const Task* t : scopes_.at(s).tasks) MLCORE_RETURN_IF_ERROR(CompileTask(*t, s, &tasks));
  for (const std::string& c : children) {
    MLCORE_ASSIGN_OR_RETURN(tasks[c], ScopeTask(s, c));
  }
  if (s.empty()) {
    root_tasks_ = tasks;
  } else {
    Component(s)["dag"]["tasks"] = tasks;
  }
  return absl::OkStatus();
}

StatusOr<Json> DagCompiler::Compile() {
  MLCORE_RETURN_IF_ERROR(BuildScopes());
  MLCORE_RETURN_IF_ERROR(CompileScope(""));
  Json root_spec = {{"dag", {{"tasks", root_tasks_}}}};
  Json params = Json::object();
  for (const IoSpec& s : p_.parameters()) params[s.name] = ParameterSpec(s);
  if (!params.empty()) root_spec["inputDefinitions"]["parameters"] = params;
  for (const PipelineOutput& o : p_.outputs()) {
    MLCORE_ASSIGN_OR_RETURN(ValueType type, p_.OutputType(o.task, o.output));
    std::string producer = o.task, key = o.output;
    const std::string origin = ScopeOf(o.task);
    if (!origin.empty()) {
      producer = ChildToward("", origin);
      MLCORE_ASSIGN_OR_RETURN(
          key, Export(producer, o.task, o.output, absl::StrCat("pipeline output '", o.name, "'")));
    }
    if (IsArtifactType(type)) {
      root_spec["outputDefinitions"]["artifacts"][o.name] = {{"artifactType", ArtifactType(type)}};
      root_spec["dag"]["outputs"]["artifacts"][o.name] = {
          {"artifactSelectors",
           Json::array({{{"producerSubtask", producer}, {"outputArtifactKey", key}}})}};
    } else {
      root_spec["outputDefinitions"]["parameters"][o.name] = {
          {"parameterType", KfpParameterType(type)}};
      root_spec["dag"]["outputs"]["parameters"][o.name] = {
          {"valueFromParameter", {{"producerSubtask", producer}, {"outputParameterKey", key}}}};
    }
  }
  Json spec;
  spec["pipelineInfo"] = {{"name", p_.name()}};
  spec["sdkVersion"] = options_.sdk_version;
  spec["schemaVersion"] = "2.1.0";
  spec["components"] = components_;
  spec["deploymentSpec"] = {{"executors", executors_}};
  spec["root"] = root_spec;
  return spec;
}

}  // namespace dag_compile

StatusOr<Json> CompileDag(const Pipeline& pipeline, const CompileOptions& options) {
  return dag_compile::DagCompiler(pipeline, options).Compile();
}

}  // namespace mlcore::pipeline::internal

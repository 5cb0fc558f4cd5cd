// Compiles the pipeline's DAG the way KFP's compiler does: every ParallelFor and task group
// (If/Elif/Else branch, condition-branches wrapper, exit handler, pipeline used as a component)
// is a sub-DAG component, run by one task of the DAG around it. A task reading a value from
// outside its sub-DAG reads it through the sub-DAG's inputs (componentInputParameter, named
// `pipelinechannel--...` as KFP names them); a value leaving a sub-DAG goes through its dag
// outputs; dependencies are drawn between the first scopes of the two sides that differ.
#include "pipeline/compile_dag.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "pipeline/kfp_ir.h"

namespace mlcore::pipeline::internal {
namespace {

using Kind = InputBinding::Kind;

// A value a sub-DAG reads from outside, passed in as one of its component inputs.
struct Outside {
  InputBinding source;
  ValueType type = ValueType::kString;
  bool artifact = false;
  bool list = false;  // a gathered list (artifacts: KFP's isArtifactList)
};

// The root DAG, a loop's or a group's sub-DAG.
struct Scope {
  std::string name;  // empty: the root
  const Loop* loop = nullptr;
  const TaskGroup* group = nullptr;
  std::string parent;
  std::vector<const Task*> tasks;
  std::vector<std::string> children;
  std::map<std::string, Outside> inputs;  // channel -> what feeds it
  std::set<std::string> outside_deps;     // upstream tasks outside this scope
};

class DagCompiler {
 public:
  DagCompiler(const Pipeline& p, const CompileOptions& o) : p_(p), options_(o) {}
  StatusOr<Json> Compile();

 private:
  std::string ScopeFor(const std::string& group, const std::string& loop) const {
    if (group.empty()) return KfpLoop(loop);
    if (loop.empty() || p_.FindGroup(group)->loop == loop) return group;
    return KfpLoop(loop);
  }
  // KFP's name of mlcore loop `loop` (for-loop-N, numbered with the groups); empty for none.
  std::string KfpLoop(const std::string& loop) const {
    return loop.empty() ? loop : kfp_loops_.at(loop);
  }
  // The component input through which loop `loop`'s body receives the current item.
  const std::string& ItemInput(const std::string& loop) const { return item_inputs_.at(loop); }
  // The channel of a loop item binding: the item, or KFP's `-subvar-<field>` of it.
  std::string ItemChannel(const InputBinding& b) const {
    return internal::ItemChannel(item_inputs_, b);
  }
  // KFP's parameterType of a loop item input.
  const char* ItemParameterType(const InputBinding& b) const {
    std::optional<ValueType> t = ConstantItemType(p_, b);
    return t ? KfpParameterType(*t) : "STRING";
  }
  std::string ConditionChannel(const Condition& c) const {
    return c.lhs.kind == Kind::kLoopItem ? ItemChannel(c.lhs) : Channel(c.lhs);
  }
  std::string ScopeOf(const std::string& task) const {
    const Task* t = p_.FindTask(task);
    return ScopeFor(t->options.group, t->options.loop);
  }
  // Whether scope `inner` is `outer` or inside it.
  bool Within(std::string inner, const std::string& outer) const {
    if (outer.empty()) return true;
    while (!inner.empty()) {
      if (inner == outer) return true;
      inner = scopes_.at(inner).parent;
    }
    return false;
  }
  // The child of `outer` that holds `inner` (a scope strictly inside `outer`).
  std::string ChildToward(const std::string& outer, std::string inner) const {
    while (scopes_.at(inner).parent != outer) inner = scopes_.at(inner).parent;
    return inner;
  }
  ValueType ParameterType(const std::string& name) const {
    for (const IoSpec& s : p_.parameters()) {
      if (s.name == name) return s.type;
    }
    return ValueType::kString;
  }
  std::string Describe(const std::string& scope) const;

  Status BuildScopes();
  // The task input spec by which scope `s` reads `b` (registering what `s` needs from outside).
  StatusOr<Json> Resolve(const std::string& s, const InputBinding& b, bool artifact,
                         const std::string& where);
  // The key under which child scope `c` hands out `task`'s `output` (made a dag output of `c`).
  // `oneof`: for a OneOf, which hands a branch's value out of its chain.
  StatusOr<std::string> Export(const std::string& c, const std::string& task,
                               const std::string& output, const std::string& where,
                               bool oneof = false);
  // The chain (condition-branches scope) a OneOf binding reads, and its output key there
  // (KFP's pipelinechannel--<chain>-oneof-N, numbered per chain in the order tasks use them).
  std::string OneOfChain(const InputBinding& b) const {
    return p_.FindGroup(p_.FindTask(b.items.front().task)->options.group)->parent;
  }
  std::string OneOfKey(const InputBinding& b) const { return oneof_keys_.at(OneOfId(b)); }
  static std::string OneOfId(const InputBinding& b) {
    std::string id;
    for (const InputBinding& item : b.items) {
      absl::StrAppend(&id, item.task, "\n", item.output, "\n");
    }
    return id;
  }
  // Makes the chain's component hand out the OneOf's value: a selector per branch.
  Status ExportOneOf(const InputBinding& b, const std::string& where);
  // The list output of loop `loop` gathering `task`'s `output` over its iterations (`loop` may
  // also be a branch inside the loop's body that the value passes through).
  StatusOr<std::string> ExportGather(const std::string& loop, const std::string& task,
                                     const std::string& output, const std::string& where);
  void AddDeps(const std::string& s, const std::string& upstream, std::set<std::string>* deps);
  StatusOr<std::string> ConditionText(const std::vector<Condition>& conditions,
                                      const std::function<std::string(const Condition&)>& channel);
  Status CompileScope(const std::string& s);
  Status CompileTask(const Task& t, const std::string& s, Json* dag_tasks);
  StatusOr<Json> ScopeTask(const std::string& s, const std::string& c);
  Json& Component(const std::string& scope) { return components_["comp-" + scope]; }

  const Pipeline& p_;
  const CompileOptions& options_;
  std::map<std::string, Scope> scopes_;  // by KFP's names
  std::map<std::string, std::string> kfp_loops_;
  std::map<std::string, std::string> item_inputs_;
  std::map<std::string, std::string> oneof_keys_;  // OneOfId -> its key
  Json components_ = Json::object();
  Json executors_ = Json::object();
  Json root_tasks_ = Json::object();
};

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

StatusOr<std::string> DagCompiler::Export(const std::string& c, const std::string& task,
                                          const std::string& output, const std::string& where,
                                          bool oneof) {
  const Scope& scope = scopes_.at(c);
  std::string key;
  if (scope.group != nullptr && scope.group->kind == TaskGroup::Kind::kPipeline) {
    for (const PipelineOutput& o : scope.group->outputs) {
      if (o.task == task && o.output == output) {
        key = o.name;
        break;
      }
    }
    if (key.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(where, " reads output '", output,
                                                        "' of task '", task, "' inside ",
                                                        Describe(c), ", which does not return it"));
    }
  } else if (scope.loop != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(where, " reads output '", output,
                                                      "' of task '", task, "' inside ", Describe(c),
                                                      "; gather it with Collected"));
  } else if (oneof && scope.group->kind == TaskGroup::Kind::kCondition) {
    key = Channel(InputBinding::Output(task, output));
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        where, " reads output '", output, "' of task '", task, "' inside ", Describe(c),
        ": Kubeflow passes no value out of a condition branch or an exit handler, so move the "
        "reader into that group, or read the branches of an If/Elif/Else chain through OneOf "
        "(InputBinding::OneOf, mlcore.pipelines.OneOf)"));
  }
  MLCORE_ASSIGN_OR_RETURN(ValueType type, p_.OutputType(task, output));
  std::string producer = task, producer_key = output;
  const std::string origin = ScopeOf(task);
  if (origin != c) {
    producer = ChildToward(c, origin);
    MLCORE_ASSIGN_OR_RETURN(producer_key, Export(producer, task, output, where));
  }
  Json& comp = Component(c);
  if (IsArtifactType(type)) {
    comp["dag"]["outputs"]["artifacts"][key] = {
        {"artifactSelectors",
         Json::array({{{"producerSubtask", producer}, {"outputArtifactKey", producer_key}}})}};
    comp["outputDefinitions"]["artifacts"][key] = {{"artifactType", ArtifactType(type)}};
  } else {
    comp["dag"]["outputs"]["parameters"][key] = {
        {"valueFromParameter",
         {{"producerSubtask", producer}, {"outputParameterKey", producer_key}}}};
    comp["outputDefinitions"]["parameters"][key] = {{"parameterType", KfpParameterType(type)}};
  }
  return key;
}

Status DagCompiler::ExportOneOf(const InputBinding& b, const std::string& where) {
  const std::string chain = OneOfChain(b), key = OneOfKey(b);
  MLCORE_ASSIGN_OR_RETURN(ValueType type, p_.OutputType(b.items[0].task, b.items[0].output));
  const bool artifact = IsArtifactType(type);
  Json selectors = Json::array();
  for (const InputBinding& item : b.items) {
    const std::string branch = ChildToward(chain, ScopeOf(item.task));
    MLCORE_ASSIGN_OR_RETURN(std::string k, Export(branch, item.task, item.output, where, true));
    selectors.push_back(artifact ? Json{{"producerSubtask", branch}, {"outputArtifactKey", k}}
                                 : Json{{"producerSubtask", branch}, {"outputParameterKey", k}});
  }
  Json& comp = Component(chain);
  if (artifact) {
    comp["dag"]["outputs"]["artifacts"][key] = {{"artifactSelectors", selectors}};
    comp["outputDefinitions"]["artifacts"][key] = {{"artifactType", ArtifactType(type)}};
  } else {
    comp["dag"]["outputs"]["parameters"][key] = {
        {"valueFromOneof", {{"parameterSelectors", selectors}}}};
    comp["outputDefinitions"]["parameters"][key] = {{"parameterType", KfpParameterType(type)}};
  }
  return absl::OkStatus();
}

StatusOr<std::string> DagCompiler::ExportGather(const std::string& loop, const std::string& task,
                                                const std::string& output,
                                                const std::string& where) {
  MLCORE_ASSIGN_OR_RETURN(ValueType type, p_.OutputType(task, output));
  const std::string key = Channel(InputBinding::Output(task, output));
  std::string producer = task, producer_key = output;
  const std::string origin = ScopeOf(task);
  if (origin != loop) {
    producer = ChildToward(loop, origin);
    const Scope& child = scopes_.at(producer);
    if (child.group != nullptr && child.group->kind == TaskGroup::Kind::kPipeline) {
      MLCORE_ASSIGN_OR_RETURN(producer_key, Export(producer, task, output, where));
    } else {
      // Through a nested loop (its list per outer iteration) or a branch (or exit handler) in
      // the body, as KFP does: the child hands the value out under the same key, and a skipped
      // iteration contributes nothing.
      MLCORE_ASSIGN_OR_RETURN(producer_key, ExportGather(producer, task, output, where));
    }
  }
  Json& comp = Component(loop);
  if (IsArtifactType(type)) {
    // KFP's List[Artifact]: the selected artifacts of every iteration, one list.
    comp["dag"]["outputs"]["artifacts"][key] = {
        {"artifactSelectors",
         Json::array({{{"producerSubtask", producer}, {"outputArtifactKey", producer_key}}})}};
    comp["outputDefinitions"]["artifacts"][key] = {{"artifactType", ArtifactType(type)},
                                                   {"isArtifactList", true}};
  } else {
    comp["dag"]["outputs"]["parameters"][key] = {
        {"valueFromParameter",
         {{"producerSubtask", producer}, {"outputParameterKey", producer_key}}}};
    comp["outputDefinitions"]["parameters"][key] = {{"parameterType", "LIST"}};
  }
  return key;
}

StatusOr<Json> DagCompiler::Resolve(const std::string& s, const InputBinding& b, bool artifact,
                                    const std::string& where) {
  Scope& scope = scopes_.at(s);
  const TaskGroup* g = scope.group;
  const bool sub_pipeline = g != nullptr && g->kind == TaskGroup::Kind::kPipeline;
  // A pipeline used as a component reads the values bound to its parameters as its inputs.
  auto as_parameter = [&]() -> std::optional<Json> {
    if (!sub_pipeline) return std::nullopt;
    for (const auto& [name, arg] : g->arguments) {
      if (SameBinding(arg, b)) {
        return Json{{artifact ? "componentInputArtifact" : "componentInputParameter", name}};
      }
    }
    // An unbound parameter reached the inner tasks as its default value.
    for (const IoSpec& io : g->inputs) {
      if (g->arguments.count(io.name) == 0 && io.default_value && b.kind == Kind::kConstant &&
          io.default_value->dump() == b.constant.dump()) {
        return Json{{"componentInputParameter", io.name}};
      }
    }
    return std::nullopt;
  };
  std::string origin, channel;
  ValueType type = ValueType::kString;
  InputBinding source = b;
  std::string gathered;  // kGather: the loop whose iterations are gathered
  switch (b.kind) {
    case Kind::kConstant: {
      if (auto j = as_parameter()) return *j;
      return Json{{"runtimeValue", {{"constant", b.constant}}}};
    }
    case Kind::kParameter:
      origin = "";
      channel = Channel(b);
      type = ParameterType(b.parameter);
      break;
    case Kind::kTaskOutput: {
      origin = ScopeOf(b.task);
      channel = Channel(b);
      MLCORE_ASSIGN_OR_RETURN(type, p_.OutputType(b.task, b.output));
      break;
    }
    case Kind::kLoopItem:
      origin = KfpLoop(b.loop);
      channel = ItemInput(b.loop);
      source.field.clear();
      break;
    case Kind::kGather: {
      // The outermost loop around the producer that the reader is not in.
      std::string loop = p_.FindTask(b.task)->options.loop;
      for (const Loop* l = p_.FindLoop(loop); l != nullptr && !l->parent.empty();
           l = p_.FindLoop(l->parent)) {
        if (Within(s, KfpLoop(l->parent))) break;
        loop = l->parent;
      }
      gathered = KfpLoop(loop);
      origin = scopes_.at(gathered).parent;
      channel = absl::StrCat("pipelinechannel--", gathered, "-", Channel(b));
      if (!artifact) {
        type = ValueType::kList;
      } else {
        MLCORE_ASSIGN_OR_RETURN(type, p_.OutputType(b.task, b.output));
      }
      break;
    }
    case Kind::kOneOf: {
      // The chain's output, read where the chain is (or passed down into groups there).
      const std::string chain = OneOfChain(b);
      origin = scopes_.at(chain).parent;
      const std::string key = OneOfKey(b);
      // Passed into a group as KFP passes a task output: named after producer and key.
      channel = absl::StrCat("pipelinechannel--", chain, "-", key);
      MLCORE_ASSIGN_OR_RETURN(type, p_.OutputType(b.items[0].task, b.items[0].output));
      if (origin == s) {
        MLCORE_RETURN_IF_ERROR(ExportOneOf(b, where));
        return artifact ? Json{{"taskOutputArtifact",
                                {{"producerTask", chain}, {"outputArtifactKey", key}}}}
                        : Json{{"taskOutputParameter",
                                {{"producerTask", chain}, {"outputParameterKey", key}}}};
      }
      if (Within(origin, s)) {
        return absl::FailedPreconditionError(absl::StrCat(where, " reads a OneOf of ",
                                                          Describe(chain), " from outside ",
                                                          Describe(ChildToward(s, origin))));
      }
      break;
    }
    case Kind::kCollect:  // CompileTask spreads it over one input per element
      return absl::UnimplementedError(
          absl::StrCat(where, " gathers several outputs into a list where only a task reads it"));
  }
  Json j;
  if (origin == s) {
    switch (b.kind) {
      case Kind::kParameter:
        j = {{"componentInputParameter", b.parameter}};
        break;
      case Kind::kTaskOutput:
        j = artifact ? Json{{"taskOutputArtifact",
                             {{"producerTask", b.task}, {"outputArtifactKey", b.output}}}}
                     : Json{{"taskOutputParameter",
                             {{"producerTask", b.task}, {"outputParameterKey", b.output}}}};
        break;
      case Kind::kLoopItem:
        j = {{"componentInputParameter", channel}};
        break;
      default: {  // kGather
        MLCORE_ASSIGN_OR_RETURN(std::string key, ExportGather(gathered, b.task, b.output, where));
        j = artifact ? Json{{"taskOutputArtifact",
                             {{"producerTask", gathered}, {"outputArtifactKey", key}}}}
                     : Json{{"taskOutputParameter",
                             {{"producerTask", gathered}, {"outputParameterKey", key}}}};
      }
    }
  } else if (Within(origin, s)) {
    // Produced inside a child of this scope: read through the child's outputs.
    const std::string child = ChildToward(s, origin);
    std::string key;
    if (b.kind == Kind::kGather) {
      // Kubeflow hands a loop's list out of a branch or exit handler only through OneOf, and
      // out of a pipeline used as a component only if it returns it (mlcore's cannot).
      return absl::FailedPreconditionError(
          absl::StrCat(where, " collects task '", b.task, "' of ", Describe(gathered),
                       " from outside ", Describe(child),
                       ": Kubeflow passes no collected list out of it, so move the reader "
                       "into it"));
    }
    MLCORE_ASSIGN_OR_RETURN(key, Export(child, b.task, b.output, where));
    j = artifact
            ? Json{{"taskOutputArtifact", {{"producerTask", child}, {"outputArtifactKey", key}}}}
            : Json{{"taskOutputParameter", {{"producerTask", child}, {"outputParameterKey", key}}}};
  } else if (auto param = as_parameter()) {
    return *param;
  } else {
    // From outside: one of this scope's inputs, fed by the scope around it.
    Outside& o = scope.inputs[channel];
    o.source = source;
    o.type = type;
    o.artifact = artifact;
    o.list = b.kind == Kind::kGather;
    j = {{artifact ? "componentInputArtifact" : "componentInputParameter", channel}};
  }
  if (b.kind == Kind::kLoopItem && !b.field.empty()) {
    j["parameterExpressionSelector"] =
        absl::StrCat("parseJson(string_value)[", Json(b.field).dump(), "]");
  }
  return j;
}

void DagCompiler::AddDeps(const std::string& s, const std::string& upstream,
                          std::set<std::string>* deps) {
  const std::string origin = ScopeOf(upstream);
  if (origin == s) {
    deps->insert(upstream);
  } else if (Within(origin, s)) {
    deps->insert(ChildToward(s, origin));
  } else {
    scopes_.at(s).outside_deps.insert(upstream);
  }
}

StatusOr<std::string> DagCompiler::ConditionText(
    const std::vector<Condition>& conditions,
    const std::function<std::string(const Condition&)>& channel_of) {
  std::string text;
  for (const Condition& cond : conditions) {
    if (cond.lhs.kind == Kind::kConstant) continue;
    ValueType lhs_type = ValueType::kString;
    bool item = cond.lhs.kind == Kind::kLoopItem;
    if (item && ConstantItemType(p_, cond.lhs)) {
      // A constant list's items are typed as KFP types them, and compared so.
      lhs_type = *ConstantItemType(p_, cond.lhs);
      item = false;
    } else if (cond.lhs.kind == Kind::kParameter) {
      lhs_type = ParameterType(cond.lhs.parameter);
    } else if (cond.lhs.kind == Kind::kTaskOutput) {
      MLCORE_ASSIGN_OR_RETURN(lhs_type, p_.OutputType(cond.lhs.task, cond.lhs.output));
    }
    std::string value = absl::StrCat("inputs.parameter_values['", channel_of(cond), "']");
    std::string rhs = CelLiteral(cond.rhs);
    // As KFP: integers are compared as int(), a double with an integer literal as double().
    if (lhs_type == ValueType::kInt) value = absl::StrCat("int(", value, ")");
    if (lhs_type == ValueType::kFloat && cond.rhs.is_number_integer()) {
      rhs = absl::StrCat("double(", rhs, ")");
    }
    // A run-time list's item type is known only at run time; compare numbers as doubles.
    if (item && cond.rhs.is_number()) value = absl::StrCat("double(", value, ")");
    std::string expr = absl::StrCat(value, " ", cond.op, " ", rhs);
    if (cond.negate) expr = absl::StrCat("!(", expr, ")");
    text = text.empty() ? expr : absl::StrCat(text, " && ", expr);
  }
  return text;
}

Status DagCompiler::CompileTask(const Task& t, const std::string& s, Json* dag_tasks) {
  const pipeline::Component& c = *t.component;
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
        MLCORE_ASSIGN_OR_RETURN(task_params[channel], Resolve(s, item, false, where));
        list.push_back(absl::StrCat("{{$.inputs.parameters['", channel, "']}}"));
      }
      task_params[name] = {{"runtimeValue", {{"constant", list}}}};
      continue;
    }
    const bool artifact = IsArtifactType(c.FindInput(name)->type);
    MLCORE_ASSIGN_OR_RETURN(Json spec, Resolve(s, b, artifact, where));
    (artifact ? task_arts : task_params)[name] = spec;
  }
  // Conditions of the task's groups are its groups' triggers; only its own ones remain here.
  const size_t inherited =
      std::min(p_.GroupConditions(t.options.group).size(), t.options.conditions.size());
  std::vector<Condition> own(t.options.conditions.begin() + inherited, t.options.conditions.end());
  for (const Condition& cond : own) {
    if (cond.lhs.kind == Kind::kConstant) continue;
    const std::string channel = ConditionChannel(cond);
    MLCORE_ASSIGN_OR_RETURN(
        task_params[channel],
        Resolve(s, cond.lhs, false, absl::StrCat("task '", t.name, "' condition")));
    ValueType type = ValueType::kString;
    if (cond.lhs.kind == Kind::kParameter) type = ParameterType(cond.lhs.parameter);
    if (cond.lhs.kind == Kind::kTaskOutput) {
      type = p_.OutputType(cond.lhs.task, cond.lhs.output).value_or(type);
    }
    if (cond.lhs.kind == Kind::kLoopItem) type = ConstantItemType(p_, cond.lhs).value_or(type);
    in_params[channel] = {{"parameterType", KfpParameterType(type)}};
  }
  MLCORE_ASSIGN_OR_RETURN(std::string condition, ConditionText(own, [&](const Condition& c) {
                            return ConditionChannel(c);
                          }));
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

  executors_[exec_name] = ExecutorSpec(c, command, options_);
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
    MLCORE_ASSIGN_OR_RETURN(std::string text,
                            ConditionText(g->conditions, [&](const Condition& cond) {
                              return ConditionChannel(cond);
                            }));
    if (!text.empty()) task["triggerPolicy"]["condition"] = text;
  }
  Json iterator;
  if (loop != nullptr) {
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
  }
  for (const auto& [channel, o] : child.inputs) {
    MLCORE_ASSIGN_OR_RETURN(Json spec, Resolve(s, o.source, o.artifact, where));
    (o.artifact ? arts : params)[channel] = spec;
  }
  Json in_params = Json::object(), in_arts = Json::object();
  if (g != nullptr && g->kind == TaskGroup::Kind::kPipeline) {
    for (const IoSpec& io : g->inputs) {
      if (IsArtifactType(io.type)) {
        in_arts[io.name] = {{"artifactType", ArtifactType(io.type)}};
      } else {
        in_params[io.name] = ParameterSpec(io);
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
      (artifact ? arts : params)[name] = spec;
      if (b.kind == Kind::kTaskOutput) child.outside_deps.insert(b.task);
    }
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

}  // namespace

StatusOr<Json> CompileDag(const Pipeline& pipeline, const CompileOptions& options) {
  return DagCompiler(pipeline, options).Compile();
}

}  // namespace mlcore::pipeline::internal

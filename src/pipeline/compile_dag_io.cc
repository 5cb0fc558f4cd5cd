// How a scope of the compiled DAG reads a value: from its own inputs, a child's dag outputs, a
// OneOf chain or a loop's gathered list, registering what each scope needs from outside.
#include "pipeline/dag_compiler.h"

namespace mlcore::pipeline::internal::dag_compile {

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

namespace {

// A task output as KFP's task input spec reads it.
Json OutputRef(bool artifact, const std::string& producer, const std::string& key) {
  return artifact ? Json{{"taskOutputArtifact",
                          {{"producerTask", producer}, {"outputArtifactKey", key}}}}
                  : Json{{"taskOutputParameter",
                          {{"producerTask", producer}, {"outputParameterKey", key}}}};
}

}  // namespace

std::optional<Json> DagCompiler::AsParameter(const std::string& s, const InputBinding& b,
                                             bool artifact) const {
  const TaskGroup* g = scopes_.at(s).group;
  if (g == nullptr || g->kind != TaskGroup::Kind::kPipeline) return std::nullopt;
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
}

StatusOr<DagCompiler::Origin> DagCompiler::Locate(const std::string& s, const InputBinding& b,
                                                  bool artifact, const std::string& where) {
  Origin o;
  o.source = b;
  switch (b.kind) {
    case Kind::kConstant:
      o.spec = AsParameter(s, b, artifact);
      if (!o.spec) o.spec = Json{{"runtimeValue", {{"constant", b.constant}}}};
      return o;
    case Kind::kParameter:
      o.channel = Channel(b);
      o.type = ParameterType(b.parameter);
      return o;
    case Kind::kTaskOutput: {
      o.scope = ScopeOf(b.task);
      o.channel = Channel(b);
      MLCORE_ASSIGN_OR_RETURN(o.type, p_.OutputType(b.task, b.output));
      return o;
    }
    case Kind::kLoopItem:
      o.scope = KfpLoop(b.loop);
      o.channel = ItemInput(b.loop);
      o.source.field.clear();
      return o;
    case Kind::kGather: {
      // The outermost loop around the producer that the reader is not in.
      std::string loop = p_.FindTask(b.task)->options.loop;
      for (const Loop* l = p_.FindLoop(loop); l != nullptr && !l->parent.empty();
           l = p_.FindLoop(l->parent)) {
        if (Within(s, KfpLoop(l->parent))) break;
        loop = l->parent;
      }
      o.gathered = KfpLoop(loop);
      o.scope = scopes_.at(o.gathered).parent;
      o.channel = absl::StrCat("pipelinechannel--", o.gathered, "-", Channel(b));
      if (!artifact) {
        o.type = ValueType::kList;
      } else {
        MLCORE_ASSIGN_OR_RETURN(o.type, p_.OutputType(b.task, b.output));
      }
      return o;
    }
    case Kind::kOneOf: {
      // The chain's output, read where the chain is (or passed down into groups there).
      const std::string chain = OneOfChain(b);
      o.scope = scopes_.at(chain).parent;
      const std::string key = OneOfKey(b);
      // Passed into a group as KFP passes a task output: named after producer and key.
      o.channel = absl::StrCat("pipelinechannel--", chain, "-", key);
      MLCORE_ASSIGN_OR_RETURN(o.type, p_.OutputType(b.items[0].task, b.items[0].output));
      if (o.scope == s) {
        MLCORE_RETURN_IF_ERROR(ExportOneOf(b, where));
        o.spec = OutputRef(artifact, chain, key);
      } else if (Within(o.scope, s)) {
        return absl::FailedPreconditionError(absl::StrCat(where, " reads a OneOf of ",
                                                          Describe(chain), " from outside ",
                                                          Describe(ChildToward(s, o.scope))));
      }
      return o;
    }
    case Kind::kCollect:  // CompileTask spreads it over one input per element
      return absl::UnimplementedError(
          absl::StrCat(where, " gathers several outputs into a list where only a task reads it"));
  }
  return absl::InternalError("bad binding");
}

StatusOr<Json> DagCompiler::Resolve(const std::string& s, const InputBinding& b, bool artifact,
                                    const std::string& where) {
  MLCORE_ASSIGN_OR_RETURN(Origin o, Locate(s, b, artifact, where));
  if (o.spec) return *o.spec;
  Json j;
  if (o.scope == s) {
    switch (b.kind) {
      case Kind::kParameter:
        j = {{"componentInputParameter", b.parameter}};
        break;
      case Kind::kTaskOutput:
        j = OutputRef(artifact, b.task, b.output);
        break;
      case Kind::kLoopItem:
        j = {{"componentInputParameter", o.channel}};
        break;
      default: {  // kGather
        MLCORE_ASSIGN_OR_RETURN(std::string key, ExportGather(o.gathered, b.task, b.output, where));
        j = OutputRef(artifact, o.gathered, key);
      }
    }
  } else if (Within(o.scope, s)) {
    // Produced inside a child of this scope: read through the child's outputs.
    const std::string child = ChildToward(s, o.scope);
    if (b.kind == Kind::kGather) {
      // Kubeflow hands a loop's list out of a branch or exit handler only through OneOf, and
      // out of a pipeline used as a component only if it returns it (mlcore's cannot).
      return absl::FailedPreconditionError(
          absl::StrCat(where, " collects task '", b.task, "' of ", Describe(o.gathered),
                       " from outside ", Describe(child),
                       ": Kubeflow passes no collected list out of it, so move the reader "
                       "into it"));
    }
    MLCORE_ASSIGN_OR_RETURN(std::string key, Export(child, b.task, b.output, where));
    j = OutputRef(artifact, child, key);
  } else if (auto param = AsParameter(s, b, artifact)) {
    return *param;
  } else {
    // From outside: one of this scope's inputs, fed by the scope around it.
    Outside& in = scopes_.at(s).inputs[o.channel];
    in.source = o.source;
    in.type = o.type;
    in.artifact = artifact;
    in.list = b.kind == Kind::kGather;
    j = {{artifact ? "componentInputArtifact" : "componentInputParameter", o.channel}};
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

}  // namespace mlcore::pipeline::internal::dag_compile

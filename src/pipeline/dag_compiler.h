// Internal: the compiler behind CompileDag, shared by its two files: compile_dag.cc (scopes,
// tasks, sub-DAG components) and compile_dag_io.cc (how a scope reads a value: its inputs, a
// child's outputs, OneOf and gathered lists).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/compiler.h"
#include "mlcore/pipeline/pipeline.h"
#include "pipeline/kfp_ir.h"

namespace mlcore::pipeline::internal::dag_compile {

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
  // Where a binding's value comes from, as Resolve needs it: the scope that has it (empty: the
  // pipeline's top) under which channel and type; `spec` when that alone settles the answer.
  struct Origin {
    std::string scope;
    std::string channel;
    ValueType type = ValueType::kString;
    InputBinding source;   // what the scope around feeds, when read from outside
    std::string gathered;  // kGather: the loop whose iterations are gathered
    std::optional<Json> spec;
  };
  StatusOr<Origin> Locate(const std::string& s, const InputBinding& b, bool artifact,
                          const std::string& where);
  // A pipeline used as a component reads the values bound to its parameters as its inputs:
  // the spec for `b` when scope `s` is such a pipeline and `b` is one of those values.
  std::optional<Json> AsParameter(const std::string& s, const InputBinding& b, bool artifact) const;
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
  // CompileTask's parts: the task's input specs for its arguments, and its own conditions
  // (those its groups do not already trigger on) as inputs and a trigger condition.
  Status TaskArguments(const Task& t, const std::string& s, Json* task_params, Json* task_arts);
  StatusOr<std::string> OwnConditions(const Task& t, const std::string& s, Json* task_params,
                                      Json* in_params);
  StatusOr<Json> ScopeTask(const std::string& s, const std::string& c);
  // ScopeTask's parts (compile_dag.cc).
  StatusOr<std::string> ScopeTrigger(Scope& child);
  Json ScopeIterator(Scope& child);
  Status SubPipelineInputs(const std::string& s, Scope& child, const std::string& where,
                           Json* params, Json* arts, Json* in_params, Json* in_arts);
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

}  // namespace mlcore::pipeline::internal::dag_compile

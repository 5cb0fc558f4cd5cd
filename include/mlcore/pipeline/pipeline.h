// A pipeline: a DAG of tasks, each a component with its inputs bound to constants, pipeline
// parameters or upstream outputs. Every edit is validated on the spot (unknown or missing inputs,
// type mismatches, duplicate names, cycles), so a pipeline that builds is one that can run; the
// errors name the task, the component and the input.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/pipeline/component.h"

namespace mlcore::pipeline {

// Where a task input gets its value. kCollect gathers several parameter values (constants,
// pipeline parameters, task outputs: ParallelFor results) into one list input. kLoopItem is the
// current item of a ParallelFor (inside its body), kGather the list of a loop body task's output
// over every iteration, in item order (KFP's dsl.Collected; used outside the loop). Gathering an
// artifact output feeds a list input (IoSpec::list); gathering from a loop nested n levels below
// the consumer's gives lists nested n deep (one list per outer iteration). kOneOf (KFP's
// dsl.OneOf) reads the output of whichever branch of one If/Elif/Else chain ran: `items` are
// task outputs, each of a task placed directly in a different branch of the same chain, all of
// one type; the chain must end with an Else (as KFP requires) and the reader sits after it, at
// its level or inside a group there. Locally a reader whose ran branch has no item fails (KFP's
// "no value available"); one whose items were all skipped for an upstream failure is skipped.
struct InputBinding {
  enum class Kind { kConstant, kParameter, kTaskOutput, kCollect, kLoopItem, kGather, kOneOf };
  Kind kind = Kind::kConstant;
  Json constant;                    // kConstant
  std::string parameter;            // kParameter: a pipeline parameter's name
  std::string task;                 // kTaskOutput: the upstream task ...
  std::string output;               // ... and its output
  std::vector<InputBinding> items;  // kCollect: the list's elements; kOneOf: the branches' outputs
  std::string loop;                 // kLoopItem: the loop's name
  std::string field;                // kLoopItem: a key of a dict item; empty: the whole item

  static InputBinding Constant(Json value);
  static InputBinding Parameter(std::string name);
  static InputBinding Output(std::string task, std::string output);
  static InputBinding Collect(std::vector<InputBinding> items);
  static InputBinding LoopItem(std::string loop, std::string field = "");
  static InputBinding Gather(std::string task, std::string output);
  static InputBinding OneOf(std::vector<InputBinding> outputs);
};

// A ParallelFor whose iterations are decided when the run reaches it: the body's tasks (those
// added with TaskOptions::loop naming it) run once per item of `items`, named `task[i]`, at most
// `parallelism` iterations at once. `items` is a constant list, a list pipeline parameter or a
// list output of a task outside the loop, so the fan-out may be known only once that task ran.
struct Loop {
  std::string name;
  InputBinding items;
  int parallelism = 0;            // 0: no limit beyond the run's max_parallelism
  std::vector<std::string> body;  // the body's tasks, in the order they were added
  // The ParallelFor this one is nested in (empty: none). A nested loop expands once per outer
  // iteration, its tasks named `task[i][j]`; its items may be the outer loop's item (or a field
  // of it) or a list output of a task in the outer body.
  std::string parent;
  // The TaskGroup (BeginIf, ...) open when the loop was added; empty: none. Compilation only.
  std::string group;
};

// A condition guarding a task (If/Elif/Else): `lhs op rhs`, negated when `negate`. A task whose
// conditions do not all hold is skipped, and so is everything downstream of it.
struct Condition {
  InputBinding lhs;
  std::string op = "==";  // ==, !=, <, <=, >, >=
  Json rhs;
  bool negate = false;
};

struct TaskOptions {
  std::vector<Condition> conditions;
  // Runs once its upstream tasks finished, whether they succeeded, failed or were skipped
  // (an exit handler's task).
  bool run_always = false;
  // Overrides of the component's settings for this task.
  std::optional<bool> caching;
  std::optional<RetryPolicy> retry;
  // The TaskGroup (BeginIf, BeginExitHandler, ...) the task is in; empty: the innermost open
  // group, if any. The task inherits the group's conditions (GroupConditions) and loop.
  std::string group;
  // The Loop (AddLoop) whose body this task is in; empty: none.
  std::string loop;
};

struct Task {
  std::string name;
  std::shared_ptr<const Component> component;
  std::map<std::string, InputBinding> arguments;  // by input name
  std::vector<std::string> after;                 // order-only upstream tasks
  TaskOptions options;
  // Every upstream task: data edges, conditions' task outputs and `after`, sorted, unique.
  std::vector<std::string> Upstream() const;
};

// Pipeline outputs map a name to an upstream task's output.
struct PipelineOutput {
  std::string name;
  std::string task;
  std::string output;
};

// A named group of tasks that Kubeflow runs as one sub-DAG (KFP's TasksGroup): an If/Elif/Else
// branch, the condition-branches wrapper of an If/Elif/Else chain, the tasks an exit handler
// guards, or a pipeline used as a component. Locally groups change nothing but the conditions
// their tasks inherit; CompileToKfp turns each into a sub-DAG component, as KFP's compiler does.
struct TaskGroup {
  enum class Kind { kCondition, kConditionBranches, kExitHandler, kPipeline };
  Kind kind = Kind::kCondition;
  std::string name;          // unique among tasks, loops and groups: "condition-2", "inner"
  std::string display_name;  // KFP's taskInfo.name; empty: `name`
  std::string parent;        // the enclosing group; empty: none
  std::string loop;          // the innermost ParallelFor the group is in; empty: none
  // kCondition: the conjunction guarding the branch (an Elif's and an Else's start with the
  // negated conditions of the earlier branches, as KFP writes them).
  std::vector<Condition> conditions;
  // kCondition: this branch's and the earlier branches' conditions, negated (where an Elif or
  // Else that follows starts).
  std::vector<Condition> negated_chain;
  bool is_else = false;
  std::string exit_task;  // kExitHandler: the task that runs whatever happens inside
  // kPipeline: the inner pipeline's parameters, the values the outer pipeline binds to them
  // (unbound ones take their defaults) and the outputs it returns (EndGroup).
  std::vector<IoSpec> inputs;
  std::map<std::string, InputBinding> arguments;
  std::vector<PipelineOutput> outputs;
};

// Where a group sits and what KFP shows for it.
struct GroupOptions {
  // KFP's taskInfo.name (dsl.If(..., name=)); empty: the generated name.
  std::string display_name;
  // The ParallelFor whose body the group is in; empty: the open group's loop, else none.
  std::string loop;
};

class Pipeline {
 public:
  // name: lowercase letters, digits, '-' and '_'; parameters as component inputs.
  static StatusOr<Pipeline> Create(std::string name, std::vector<IoSpec> parameters = {});

  // Adds a task. InvalidArgument (naming task, component and input) for an unknown input, a
  // required input left unbound, an unknown pipeline parameter or upstream task/output, or a
  // type mismatch; AlreadyExists for a duplicate task name.
  Status AddTask(std::string name, std::shared_ptr<const Component> component,
                 std::map<std::string, InputBinding> arguments = {}, TaskOptions options = {});
  // Orders `task` after `upstream` without passing data. InvalidArgument when it would close a
  // cycle (naming the path) or either task is unknown.
  Status After(std::string_view task, std::string_view upstream);
  // Makes `task` run whatever happens upstream (an exit handler's task, declared before the
  // tasks it guards).
  Status SetRunAlways(std::string_view task, bool run_always = true);
  Status AddOutput(std::string name, std::string task, std::string output);
  // Declares a dynamic ParallelFor; its body tasks are added afterwards with TaskOptions::loop.
  // InvalidArgument when the name is taken (by a task or loop), `items` is not a list (or an
  // artifact), names something unknown, or parallelism < 0. `parent`: the loop this one is
  // nested in (its body), empty for none.
  Status AddLoop(std::string name, InputBinding items, int parallelism = 0,
                 std::string parent = "");

  // Groups (see TaskGroup). Begin* opens a group that tasks, loops and groups added until the
  // matching EndGroup join; each returns the group's name, numbered as KFP numbers them
  // (condition-N, condition-branches-N, exit-handler-N). BeginElif/BeginElse continue the If
  // or Elif closed last at the same level (FailedPrecondition otherwise); the first of them
  // wraps the chain in a condition-branches group, which renames the If as KFP does (the If's
  // tasks follow). BeginExitHandler: `exit_task` (added before, outside) runs after every task
  // of the group, whatever happens to them (set at EndGroup; InvalidArgument if it guards no
  // task). BeginSubPipeline: a pipeline used as a component, named `name` (a fresh task name),
  // its parameters `inputs` bound to `arguments` (checked as task inputs are); its tasks are
  // added as ordinary tasks reading the outer values directly, and EndGroup(outputs) names the
  // inner tasks' outputs it returns.
  StatusOr<std::string> BeginIf(Condition condition, GroupOptions options = {});
  StatusOr<std::string> BeginElif(Condition condition, GroupOptions options = {});
  StatusOr<std::string> BeginElse(GroupOptions options = {});
  StatusOr<std::string> BeginExitHandler(std::string exit_task, GroupOptions options = {});
  StatusOr<std::string> BeginSubPipeline(std::string name, std::vector<IoSpec> inputs,
                                         std::map<std::string, InputBinding> arguments,
                                         GroupOptions options = {});
  // Closes the innermost open group. `outputs` only for a sub-pipeline (name -> inner task
  // output). FailedPrecondition when no group is open.
  Status EndGroup(std::vector<PipelineOutput> outputs = {});
  const std::vector<TaskGroup>& groups() const { return groups_; }
  const TaskGroup* FindGroup(std::string_view name) const;
  // The conditions a task in `group` inherits: those of every If/Elif/Else group enclosing it
  // (through loops too), outermost first.
  std::vector<Condition> GroupConditions(std::string_view group) const;

  // A task name not used yet: `base`, else base-2, base-3, ... O(1) amortised: the next suffix
  // to try is remembered per base.
  std::string UniqueTaskName(std::string_view base) const;

  const std::string& name() const { return name_; }
  const std::vector<IoSpec>& parameters() const { return parameters_; }
  const std::vector<Task>& tasks() const { return tasks_; }
  const std::vector<PipelineOutput>& outputs() const { return outputs_; }
  const std::vector<Loop>& loops() const { return loops_; }
  const Task* FindTask(std::string_view name) const;
  const Loop* FindLoop(std::string_view name) const;
  // Whether loop `loop` is `ancestor` or nested (at any depth) in it; everything is within the
  // top level (an empty `ancestor`). Nested loops read their ancestors' items and tasks.
  bool LoopWithin(std::string loop, const std::string& ancestor) const;
  // The type of `task`'s output `output`; InvalidArgument when either is unknown.
  StatusOr<ValueType> OutputType(std::string_view task, std::string_view output) const;

  // The pipeline as JSON (components by definition digest, tasks, bindings): the identity of a
  // pipeline version. Digest() is its sha256.
  Json ToJson() const;
  std::string Digest() const;

  // Checks the arguments of a run against the parameters (unknown names, types, missing values)
  // and returns them with defaults filled in.
  StatusOr<std::map<std::string, Json>> ResolveArguments(const Json& arguments) const;

 private:
  // What AddLoop and AddTask check (pipeline_checks.cc): a loop's items (`where` names the loop),
  // a task's arguments against its component's inputs, and that a loop body task's upstream
  // tasks outside the loop do not depend on the loop (a cycle).
  Status CheckLoopItems(const std::string& where, const InputBinding& items,
                        const std::string& parent) const;
  Status CheckArguments(const Task& task,
                        const std::map<std::string, InputBinding>& arguments) const;
  // A condition of a task, or of a branch (If/Elif/Else) as it opens, read inside loop `loop`;
  // `where` names it in errors. A constant left-hand side is taken only where `constant_lhs`.
  Status CheckCondition(const Condition& c, const std::string& loop, const std::string& where,
                        bool constant_lhs) const;
  Status CheckLoopBodyEdges(const Task& task) const;
  // An input's binding checks (pipeline_bindings.cc), one per kind of binding that needs more
  // than a type check. `where` names the task and input in messages.
  Status CheckBinding(const Task& task, const IoSpec& input, const InputBinding& binding) const;
  Status CheckLoopItem(const Task& task, const IoSpec& input, const InputBinding& b,
                       const std::string& where) const;
  Status CheckGather(const Task& task, const IoSpec& input, const InputBinding& b,
                     const std::string& where) const;
  Status CheckCollect(const Task& task, const IoSpec& input, const InputBinding& b,
                      const std::string& where) const;
  bool Reaches(std::string_view from, std::string_view to) const;
  // InvalidArgument when `task` reads `producer`, a task of a loop `task` is not in.
  Status CheckLoopAccess(const Task& task, const std::string& producer,
                         const std::string& where) const;
  // A OneOf binding's checks (pipeline_oneof.cc); `from` gets the items' common type.
  Status CheckOneOf(const Task& task, const InputBinding& b, const std::string& where,
                    ValueType* from) const;

  std::string name_;
  std::vector<IoSpec> parameters_;
  std::vector<Task> tasks_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<PipelineOutput> outputs_;
  std::vector<Loop> loops_;
  // UniqueTaskName's next suffix per base name (a cache: names it hands out are not reserved).
  mutable std::map<std::string, int, std::less<>> next_suffix_;
  // Whether every edge so far runs from an earlier-added task to a later one (see After).
  bool forward_only_ = true;
  // Groups (pipeline_groups.cc): all of them, the open ones (innermost last), the last one
  // closed (where an Elif/Else continues) and KFP's group counter.
  std::vector<TaskGroup> groups_;
  std::vector<std::string> open_groups_;
  std::string last_closed_group_;
  int group_ids_ = 0;
  // Puts a task being added into its group (TaskOptions::group): inherits its loop and
  // conditions. InvalidArgument for an unknown group.
  Status JoinGroup(const std::string& task, TaskOptions& options) const;
  StatusOr<std::string> BeginGroup(TaskGroup group, const GroupOptions& options);
};

}  // namespace mlcore::pipeline

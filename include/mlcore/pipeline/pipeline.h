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
// pipeline parameters, task outputs: ParallelFor results) into one list input.
struct InputBinding {
  enum class Kind { kConstant, kParameter, kTaskOutput, kCollect };
  Kind kind = Kind::kConstant;
  Json constant;                    // kConstant
  std::string parameter;            // kParameter: a pipeline parameter's name
  std::string task;                 // kTaskOutput: the upstream task ...
  std::string output;               // ... and its output
  std::vector<InputBinding> items;  // kCollect: the list's elements, in order

  static InputBinding Constant(Json value);
  static InputBinding Parameter(std::string name);
  static InputBinding Output(std::string task, std::string output);
  static InputBinding Collect(std::vector<InputBinding> items);
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
  // A label grouping tasks for display and compilation (a ParallelFor iteration, an If branch).
  std::string group;
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

  // A task name not used yet: `base`, else base-2, base-3, ...
  std::string UniqueTaskName(std::string_view base) const;

  const std::string& name() const { return name_; }
  const std::vector<IoSpec>& parameters() const { return parameters_; }
  const std::vector<Task>& tasks() const { return tasks_; }
  const std::vector<PipelineOutput>& outputs() const { return outputs_; }
  const Task* FindTask(std::string_view name) const;
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
  Status CheckBinding(const Task& task, const IoSpec& input, const InputBinding& binding) const;
  bool Reaches(std::string_view from, std::string_view to) const;

  std::string name_;
  std::vector<IoSpec> parameters_;
  std::vector<Task> tasks_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<PipelineOutput> outputs_;
};

}  // namespace mlcore::pipeline

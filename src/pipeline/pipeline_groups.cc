// Task groups (If/Elif/Else branches, exit handlers, pipelines used as components): what the
// pipeline remembers so that CompileToKfp can give Kubeflow the sub-DAGs KFP's compiler makes.
// Locally a group only hands its conditions down to its tasks (and an exit handler orders its
// exit task after them); the executor never sees groups.

#include <regex>

#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline {
namespace {

Condition Negated(Condition c) {
  c.negate = !c.negate;
  return c;
}

}  // namespace

const TaskGroup* Pipeline::FindGroup(std::string_view name) const {
  if (name.empty()) return nullptr;
  for (const TaskGroup& g : groups_) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

std::vector<Condition> Pipeline::GroupConditions(std::string_view group) const {
  std::vector<const TaskGroup*> chain;
  for (const TaskGroup* g = FindGroup(group); g != nullptr; g = FindGroup(g->parent)) {
    chain.push_back(g);
  }
  std::vector<Condition> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    out.insert(out.end(), (*it)->conditions.begin(), (*it)->conditions.end());
  }
  return out;
}

Status Pipeline::JoinGroup(const std::string& task, TaskOptions& options) const {
  if (options.group.empty()) {
    if (open_groups_.empty()) return absl::OkStatus();
    options.group = open_groups_.back();
  }
  const TaskGroup* g = FindGroup(options.group);
  if (g == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("task '", task, "' is in unknown group '", options.group, "'"));
  }
  if (options.loop.empty()) options.loop = g->loop;
  if (!LoopWithin(options.loop, g->loop)) {
    return absl::InvalidArgumentError(absl::StrCat("task '", task, "' (in ParallelFor '",
                                                   options.loop, "') cannot join group '", g->name,
                                                   "' of ParallelFor '", g->loop, "'"));
  }
  std::vector<Condition> inherited = GroupConditions(g->name);
  options.conditions.insert(options.conditions.begin(), inherited.begin(), inherited.end());
  return absl::OkStatus();
}

StatusOr<std::string> Pipeline::BeginGroup(TaskGroup group, const GroupOptions& options) {
  const TaskGroup* parent = FindGroup(group.parent);
  group.display_name = options.display_name;
  group.loop = options.loop.empty() && parent != nullptr ? parent->loop : options.loop;
  if (!group.loop.empty() && FindLoop(group.loop) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("group '", group.name, "' is in unknown ParallelFor '", group.loop, "'"));
  }
  if (parent != nullptr && !LoopWithin(group.loop, parent->loop)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group '", group.name, "' (in ParallelFor '", group.loop, "') cannot be inside group '",
        parent->name, "' of ParallelFor '", parent->loop, "'"));
  }
  if (index_.count(group.name) > 0 || FindLoop(group.name) != nullptr ||
      FindGroup(group.name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(
        "pipeline '", name_, "' already has a task, loop or group '", group.name, "'"));
  }
  std::string name = group.name;
  groups_.push_back(std::move(group));
  open_groups_.push_back(name);
  return name;
}

StatusOr<std::string> Pipeline::BeginIf(Condition condition, GroupOptions options) {
  TaskGroup g;
  g.kind = TaskGroup::Kind::kCondition;
  g.parent = open_groups_.empty() ? "" : open_groups_.back();
  const std::string loop = !options.loop.empty()            ? options.loop
                           : FindGroup(g.parent) != nullptr ? FindGroup(g.parent)->loop
                                                            : "";
  MLCORE_RETURN_IF_ERROR(CheckCondition(condition, loop, "If condition", false));
  g.name = UniqueTaskName(absl::StrCat("condition-", ++group_ids_));
  g.conditions = {condition};
  g.negated_chain = {Negated(condition)};
  return BeginGroup(std::move(g), options);
}

namespace {

// KFP numbers a chain's wrapper with the If's number and gives the If a fresh one.
bool SplitId(const std::string& name, const std::string& prefix, std::string* id) {
  if (name.rfind(prefix, 0) != 0) return false;
  *id = name.substr(prefix.size());
  return !id->empty() && id->find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

StatusOr<std::string> Pipeline::BeginElif(Condition condition, GroupOptions options) {
  const std::string what = "Elif";
  const TaskGroup* prev = FindGroup(last_closed_group_);
  const std::string level = open_groups_.empty() ? "" : open_groups_.back();
  const TaskGroup* prev_parent = prev == nullptr ? nullptr : FindGroup(prev->parent);
  const bool wrapped =
      prev_parent != nullptr && prev_parent->kind == TaskGroup::Kind::kConditionBranches;
  const std::string prev_level = !wrapped ? (prev ? prev->parent : "") : prev_parent->parent;
  if (prev == nullptr || prev->kind != TaskGroup::Kind::kCondition || prev->is_else ||
      prev_level != level || (!options.loop.empty() && options.loop != prev->loop)) {
    return absl::FailedPreconditionError(
        "an Elif or Else must follow an If or Elif closed at the same level");
  }
  MLCORE_RETURN_IF_ERROR(CheckCondition(condition, prev->loop, what + " condition", false));
  std::string wrapper = prev->parent;
  if (!wrapped) {
    // Wrap the chain: the wrapper takes the If's number, the If a new one (as KFP does).
    std::string old = prev->name, id;
    const int fresh = ++group_ids_;
    std::string renamed = old;
    if (SplitId(old, "condition-", &id)) {
      wrapper = UniqueTaskName(absl::StrCat("condition-branches-", id));
      renamed = UniqueTaskName(absl::StrCat("condition-", fresh));
    } else {
      wrapper = UniqueTaskName(absl::StrCat("condition-branches-", fresh));
    }
    TaskGroup w;
    w.kind = TaskGroup::Kind::kConditionBranches;
    w.name = wrapper;
    w.parent = prev->parent;
    w.loop = prev->loop;
    for (Task& t : tasks_) {
      if (t.options.group == old) t.options.group = renamed;
    }
    for (Loop& l : loops_) {
      if (l.group == old) l.group = renamed;
    }
    for (TaskGroup& g : groups_) {
      if (g.parent == old) g.parent = renamed;
      if (g.name == old) {
        g.name = renamed;
        g.parent = wrapper;
      }
    }
    last_closed_group_ = renamed;
    groups_.push_back(std::move(w));
    prev = FindGroup(renamed);
  }
  TaskGroup g;
  g.kind = TaskGroup::Kind::kCondition;
  g.parent = wrapper;
  g.conditions = prev->negated_chain;
  g.conditions.push_back(condition);
  g.negated_chain = prev->negated_chain;
  g.negated_chain.push_back(Negated(condition));
  g.name = UniqueTaskName(absl::StrCat("condition-", ++group_ids_));
  options.loop = prev->loop;
  // Inside the wrapper, which itself is never open: tasks after the chain stay outside it.
  return BeginGroup(std::move(g), options);
}

StatusOr<std::string> Pipeline::BeginElse(GroupOptions options) {
  // An Else is an Elif whose own condition always holds: start one and drop that condition.
  const TaskGroup* prev = FindGroup(last_closed_group_);
  if (prev == nullptr || prev->kind != TaskGroup::Kind::kCondition) {
    return absl::FailedPreconditionError(
        "an Elif or Else must follow an If or Elif closed at the same level");
  }
  Condition always{InputBinding::Constant(true), "==", true, false};
  if (!prev->conditions.empty()) always.lhs = prev->conditions.front().lhs;
  MLCORE_ASSIGN_OR_RETURN(std::string name, BeginElif(always, std::move(options)));
  TaskGroup& g = groups_.back();
  g.conditions.pop_back();
  g.negated_chain.clear();
  g.is_else = true;
  return name;
}

StatusOr<std::string> Pipeline::BeginExitHandler(std::string exit_task, GroupOptions options) {
  if (FindTask(exit_task) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("exit handler: no task '", exit_task, "' (add the exit task first)"));
  }
  TaskGroup g;
  g.kind = TaskGroup::Kind::kExitHandler;
  g.parent = open_groups_.empty() ? "" : open_groups_.back();
  g.exit_task = std::move(exit_task);
  g.name = UniqueTaskName(absl::StrCat("exit-handler-", ++group_ids_));
  return BeginGroup(std::move(g), options);
}

StatusOr<std::string> Pipeline::BeginSubPipeline(std::string name, std::vector<IoSpec> inputs,
                                                 std::map<std::string, InputBinding> arguments,
                                                 GroupOptions options) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]*");
  if (!std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline task name '", name, "' must be letters, digits, '_', '-', '.'"));
  }
  TaskGroup g;
  g.kind = TaskGroup::Kind::kPipeline;
  g.name = name;
  g.parent = open_groups_.empty() ? "" : open_groups_.back();
  // The inner pipeline's parameters are checked as a component's inputs would be.
  auto probe = std::make_shared<Component>();
  probe->name = name;
  probe->inputs = inputs;
  Task t;
  t.name = name;
  t.component = probe;
  const TaskGroup* parent = FindGroup(g.parent);
  t.options.loop = !options.loop.empty() ? options.loop : parent ? parent->loop : "";
  t.options.group = g.parent;
  for (const auto& [input, binding] : arguments) {
    if (probe->FindInput(input) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("pipeline '", name, "' has no parameter '", input, "'"));
    }
  }
  for (const IoSpec& input : inputs) {
    auto it = arguments.find(input.name);
    if (it == arguments.end()) {
      if (input.default_value.has_value()) continue;
      return absl::InvalidArgumentError(absl::StrCat("pipeline '", name, "' is missing parameter '",
                                                     input.name, "' (", ValueTypeName(input.type),
                                                     ")"));
    }
    MLCORE_RETURN_IF_ERROR(CheckBinding(t, input, it->second));
  }
  g.inputs = std::move(inputs);
  g.arguments = std::move(arguments);
  return BeginGroup(std::move(g), options);
}

Status Pipeline::EndGroup(std::vector<PipelineOutput> outputs) {
  if (open_groups_.empty()) return absl::FailedPreconditionError("EndGroup: no group is open");
  const std::string name = open_groups_.back();
  open_groups_.pop_back();
  last_closed_group_ = name;
  TaskGroup& g = groups_[FindGroup(name) - groups_.data()];
  auto inside = [&](std::string group) {
    for (const TaskGroup* c = FindGroup(group); c != nullptr; c = FindGroup(c->parent)) {
      if (c->name == name) return true;
    }
    return false;
  };
  if (!outputs.empty() && g.kind != TaskGroup::Kind::kPipeline) {
    return absl::InvalidArgumentError(
        absl::StrCat("group '", name, "' is not a pipeline and returns no outputs"));
  }
  for (const PipelineOutput& o : outputs) {
    auto type = OutputType(o.task, o.output);
    if (!type.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pipeline '", name, "' output '", o.name, "': ", type.status().message()));
    }
    if (!inside(FindTask(o.task)->options.group)) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline '", name, "' output '", o.name,
                                                     "': task '", o.task, "' is not in it"));
    }
  }
  g.outputs = std::move(outputs);
  if (g.kind != TaskGroup::Kind::kExitHandler) return absl::OkStatus();
  const std::string exit_task = g.exit_task;
  std::vector<std::string> guarded;
  for (const Task& t : tasks_) {
    if (inside(t.options.group)) guarded.push_back(t.name);
  }
  if (guarded.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("exit handler '", name, "' (exit task '", exit_task, "') guards no tasks"));
  }
  for (const std::string& t : guarded) MLCORE_RETURN_IF_ERROR(After(exit_task, t));
  return SetRunAlways(exit_task, true);
}

}  // namespace mlcore::pipeline

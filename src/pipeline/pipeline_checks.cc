// Pipeline's checks of what AddLoop and AddTask are given: a loop's items, a task's arguments
// (each input bound once, to something that exists; the binding kinds are checked in
// pipeline_bindings.cc), its conditions, and the edges of a loop body task that would make a
// cycle through the loop.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline {

Status Pipeline::CheckLoopItems(const std::string& where, const InputBinding& items,
                                const std::string& parent) const {
  switch (items.kind) {
    case InputBinding::Kind::kConstant:
      if (!items.constant.is_array()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " iterates over a list, not ", items.constant.dump()));
      }
      break;
    case InputBinding::Kind::kParameter: {
      auto it = std::find_if(parameters_.begin(), parameters_.end(),
                             [&](const IoSpec& s) { return s.name == items.parameter; });
      if (it == parameters_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " iterates over unknown pipeline parameter '", items.parameter, "'"));
      }
      if (it->type != ValueType::kList) {
        return absl::InvalidArgumentError(absl::StrCat(where, " iterates over parameter '",
                                                       items.parameter, "', a ",
                                                       ValueTypeName(it->type), ", not a list"));
      }
      break;
    }
    case InputBinding::Kind::kTaskOutput: {
      auto type = OutputType(items.task, items.output);
      if (!type.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", type.status().message()));
      }
      if (*type != ValueType::kList) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " iterates over output '", items.output, "' of task '", items.task,
                         "', a ", ValueTypeName(*type), ", not a list"));
      }
      if (!LoopWithin(parent, FindTask(items.task)->options.loop)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " iterates over task '", items.task, "' of ParallelFor '",
            FindTask(items.task)->options.loop, "', which ",
            parent.empty() ? "is outside it: collect its outputs (Collected)"
                           : absl::StrCat("is not an ancestor of ParallelFor '", parent, "'")));
      }
      break;
    }
    case InputBinding::Kind::kLoopItem:
      // The item of an enclosing loop (or one of its fields): known once that iteration starts.
      if (items.loop.empty() || !LoopWithin(parent, items.loop)) {
        return absl::InvalidArgumentError(absl::StrCat(where,
                                                       " iterates over the item of ParallelFor '",
                                                       items.loop, "', which it is not nested in"));
      }
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          where, " iterates over a constant list, a list parameter or a task's list output"));
  }
  return absl::OkStatus();
}

Status Pipeline::CheckArguments(const Task& task,
                                const std::map<std::string, InputBinding>& arguments) const {
  for (const auto& [input, binding] : arguments) {
    if (task.component->FindInput(input) == nullptr) {
      std::vector<std::string> names;
      for (const IoSpec& s : task.component->inputs) names.push_back(s.name);
      return absl::InvalidArgumentError(absl::StrCat(
          "task '", task.name, "': component '", task.component->name, "' has no input '", input,
          "' (inputs: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
  }
  for (const IoSpec& input : task.component->inputs) {
    auto it = arguments.find(input.name);
    if (it == arguments.end()) {
      if (input.default_value.has_value()) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("task '", task.name, "' (component '", task.component->name,
                       "') is missing input '", input.name, "' (", ValueTypeName(input.type), ")"));
    }
    MLCORE_RETURN_IF_ERROR(CheckBinding(task, input, it->second));
  }
  return absl::OkStatus();
}

Status Pipeline::CheckCondition(const Condition& c, const std::string& loop,
                                const std::string& where, bool constant_lhs) const {
  static const std::set<std::string> kOps = {"==", "!=", "<", "<=", ">", ">="};
  if (kOps.count(c.op) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": unknown operator '", c.op, "'"));
  }
  switch (c.lhs.kind) {
    case InputBinding::Kind::kTaskOutput: {
      auto type = OutputType(c.lhs.task, c.lhs.output);
      if (!type.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", type.status().message()));
      }
      if (IsArtifactType(*type)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": output '", c.lhs.output, "' of task '", c.lhs.task,
                         "' is an artifact; conditions compare parameters"));
      }
      const std::string& producer_loop = FindTask(c.lhs.task)->options.loop;
      if (!LoopWithin(loop, producer_loop)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " reads task '", c.lhs.task,
                         "', which runs once per iteration of ParallelFor '", producer_loop, "'"));
      }
      return absl::OkStatus();
    }
    case InputBinding::Kind::kParameter:
      for (const IoSpec& s : parameters_) {
        if (s.name == c.lhs.parameter) return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat(where, " refers to unknown pipeline parameter '", c.lhs.parameter, "'"));
    case InputBinding::Kind::kLoopItem:
      if (c.lhs.loop.empty() || !LoopWithin(loop, c.lhs.loop)) {
        return absl::InvalidArgumentError(absl::StrCat(where, " uses the item of ParallelFor '",
                                                       c.lhs.loop, "' outside its body"));
      }
      return absl::OkStatus();
    case InputBinding::Kind::kConstant:
      if (constant_lhs) return absl::OkStatus();
      [[fallthrough]];
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(where, " compares a task output, a parameter or a loop item"));
  }
}

Status Pipeline::CheckLoopBodyEdges(const Task& task) const {
  // A body task's upstream tasks outside the loop must not depend on the loop itself: the
  // loop runs as one step, so that would be a cycle. The same holds for each loop it is
  // nested in that the upstream task is outside of.
  const Loop* loop = FindLoop(task.options.loop);
  for (const std::string& up : task.Upstream()) {
    const Task* u = FindTask(up);
    if (u == nullptr) continue;
    for (const Loop* a = loop; a != nullptr; a = FindLoop(a->parent)) {
      if (LoopWithin(u->options.loop, a->name)) break;
      for (const Loop& l : loops_) {
        if (!LoopWithin(l.name, a->name)) continue;
        for (const std::string& b : l.body) {
          if (Reaches(up, b)) {
            return absl::InvalidArgumentError(
                absl::StrCat("task '", task.name, "' in ParallelFor '", a->name, "' uses task '",
                             up, "', which depends on the loop's task '", b, "': a cycle"));
          }
        }
      }
      if (a->parent.empty()) break;
    }
  }
  return absl::OkStatus();
}

}  // namespace mlcore::pipeline

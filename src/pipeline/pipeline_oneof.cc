// KFP's dsl.OneOf: one input fed by whichever branch of an If/Elif/Else chain ran. Checked when
// the reading task is added, so that every OneOf that builds has a value at run time (or names
// the branch that gave none) and compiles to the condition-branches output KFP makes.

#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline {

InputBinding InputBinding::OneOf(std::vector<InputBinding> outputs) {
  return {.kind = Kind::kOneOf, .items = std::move(outputs)};
}

Status Pipeline::CheckOneOf(const Task& task, const InputBinding& b, const std::string& where,
                            ValueType* from) const {
  auto error = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": OneOf ", parts...));
  };
  if (b.items.empty()) {
    return error("needs the outputs of tasks in the branches of an If/Elif/Else chain");
  }
  const TaskGroup* chain = nullptr;
  std::vector<std::string> branches;
  for (size_t i = 0; i < b.items.size(); ++i) {
    const InputBinding& item = b.items[i];
    if (item.kind != InputBinding::Kind::kTaskOutput) {
      return error("item ", i, " is not a task output (OneOf picks among branches' outputs)");
    }
    auto type = OutputType(item.task, item.output);
    if (!type.ok()) return error("item ", i, ": ", type.status().message());
    const TaskGroup* branch = FindGroup(FindTask(item.task)->options.group);
    const TaskGroup* wrapper = branch == nullptr ? nullptr : FindGroup(branch->parent);
    if (branch == nullptr || branch->kind != TaskGroup::Kind::kCondition) {
      return error("item ", i, ": task '", item.task,
                   "' is not directly in an If/Elif/Else branch");
    }
    if (wrapper == nullptr || wrapper->kind != TaskGroup::Kind::kConditionBranches) {
      return error("item ", i, ": task '", item.task, "' is in If '", branch->name,
                   "', which has no Elif or Else (OneOf needs a chain ending with an Else)");
    }
    if (chain == nullptr) {
      chain = wrapper;
      *from = *type;
    } else if (wrapper != chain) {
      return error("items 0 and ", i, " come from different If/Elif/Else chains ('", chain->name,
                   "' and '", wrapper->name, "')");
    }
    for (size_t j = 0; j < branches.size(); ++j) {
      if (branches[j] == branch->name) {
        return error("items ", j, " and ", i, " both come from branch '", branch->name,
                     "' (one output per branch)");
      }
    }
    branches.push_back(branch->name);
    if (*type != *from) {
      return error("item ", i, " (", item.task, ".", item.output, ") is a ", ValueTypeName(*type),
                   " but item 0 is a ", ValueTypeName(*from), ": the outputs must all be one type");
    }
    MLCORE_RETURN_IF_ERROR(CheckLoopAccess(task, item.task, where));
  }
  const TaskGroup* last = nullptr;
  for (const TaskGroup& g : groups_) {
    if (g.parent == chain->name) last = &g;
  }
  if (last == nullptr || !last->is_else) {
    return error("reads chain '", chain->name,
                 "', which has no Else: as in KFP, a OneOf needs one so that a branch always runs");
  }
  // The reader comes after the chain, at its level or in a group there (where Kubeflow can
  // read the chain's output).
  bool at_level = chain->parent.empty();
  for (const TaskGroup* g = FindGroup(task.options.group); g != nullptr; g = FindGroup(g->parent)) {
    if (g->name == chain->name) {
      return error("is read inside its own chain '", chain->name, "'");
    }
    if (g->name == chain->parent) at_level = true;
  }
  if (!at_level) {
    return error("reads chain '", chain->name, "' of group '", chain->parent,
                 "' from outside that group");
  }
  return absl::OkStatus();
}

}  // namespace mlcore::pipeline

// The checks of an input's binding at AddTask: the binding's kind against the input (a
// parameter, an artifact, a list), the types on both ends, and loop scoping (what a task in or
// outside a ParallelFor may read). OneOf's own checks are in pipeline_oneof.cc.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline {

Status Pipeline::CheckBinding(const Task& task, const IoSpec& input, const InputBinding& b) const {
  auto where = [&] {
    return absl::StrCat("task '", task.name, "' (component '", task.component->name, "') input '",
                        input.name, "'");
  };
  ValueType from{};
  if (input.list && b.kind != InputBinding::Kind::kGather) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), " takes a list of ", ValueTypeName(input.type),
                     " artifacts: gather a ParallelFor task's output into it with Collected"));
  }
  switch (b.kind) {
    case InputBinding::Kind::kConstant: {
      if (IsArtifactType(input.type)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), " is a ", ValueTypeName(input.type),
                         " artifact and must come from a task output, not a constant"));
      }
      Status st = CheckParameterValue(input.type, b.constant);
      if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(where(), ": ", st.message()));
      return absl::OkStatus();
    }
    case InputBinding::Kind::kParameter: {
      auto it = std::find_if(parameters_.begin(), parameters_.end(),
                             [&](const IoSpec& s) { return s.name == b.parameter; });
      if (it == parameters_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), " refers to unknown pipeline ", "parameter '", b.parameter, "'"));
      }
      from = it->type;
      break;
    }
    case InputBinding::Kind::kTaskOutput: {
      auto type = OutputType(b.task, b.output);
      if (!type.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where(), ": ", type.status().message()));
      }
      MLCORE_RETURN_IF_ERROR(CheckLoopAccess(task, b.task, where()));
      from = *type;
      break;
    }
    case InputBinding::Kind::kLoopItem:
      return CheckLoopItem(task, input, b, where());
    case InputBinding::Kind::kGather:
      return CheckGather(task, input, b, where());
    case InputBinding::Kind::kOneOf:
      MLCORE_RETURN_IF_ERROR(CheckOneOf(task, b, where(), &from));
      break;
    case InputBinding::Kind::kCollect:
      return CheckCollect(task, input, b, where());
  }
  if (!TypeAccepts(input.type, from)) {
    return absl::InvalidArgumentError(absl::StrCat(where(), " expects ", ValueTypeName(input.type),
                                                   " but is given a ", ValueTypeName(from)));
  }
  return absl::OkStatus();
}

Status Pipeline::CheckLoopItem(const Task& task, const IoSpec& input, const InputBinding& b,
                               const std::string& where) const {
  if (b.loop.empty() || !LoopWithin(task.options.loop, b.loop)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " uses the item of ParallelFor '", b.loop, "' outside its body",
        task.options.loop.empty() ? "" : absl::StrCat(" (it is in '", task.options.loop, "')")));
  }
  if (IsArtifactType(input.type)) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is a ", ValueTypeName(input.type),
                                                   " artifact; a loop item is a parameter"));
  }
  // A constant list's items are known now: check each against the input's type.
  const Loop* loop = FindLoop(b.loop);
  if (loop != nullptr && loop->items.kind == InputBinding::Kind::kConstant) {
    for (size_t i = 0; i < loop->items.constant.size(); ++i) {
      Json v = loop->items.constant[i];
      if (!b.field.empty()) {
        if (!v.is_object() || !v.contains(b.field)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": item ", i, " has no field '", b.field, "'"));
        }
        v = v[b.field];
      }
      Status st = CheckParameterValue(input.type, v);
      if (!st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": item ", i, ": ", st.message()));
      }
    }
  }
  return absl::OkStatus();
}

Status Pipeline::CheckGather(const Task& task, const IoSpec& input, const InputBinding& b,
                             const std::string& where) const {
  auto type = OutputType(b.task, b.output);
  if (!type.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", type.status().message()));
  }
  const Task* producer = FindTask(b.task);
  if (producer->options.loop.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " collects task '", b.task, "', which is in no ParallelFor; pass its output"));
  }
  if (LoopWithin(task.options.loop, producer->options.loop)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " collects task '", b.task, "' inside its own ParallelFor '",
                     producer->options.loop, "'; collect after the loop"));
  }
  if (!LoopWithin(producer->options.loop, task.options.loop)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " collects task '", b.task, "' of ParallelFor '", producer->options.loop,
        "', which is not nested in this task's ParallelFor '", task.options.loop, "'"));
  }
  if (IsArtifactType(*type)) {
    if (!input.list || !TypeAccepts(input.type, *type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " collects output '", b.output, "' of task '", b.task, "', a ",
          ValueTypeName(*type), " artifact, so it must be a list of ", ValueTypeName(*type),
          " artifacts (Input[List[", ValueTypeName(*type), "]]), not ",
          input.list ? absl::StrCat("a list of ", ValueTypeName(input.type))
                     : absl::StrCat("a ", ValueTypeName(input.type))));
    }
    return absl::OkStatus();
  }
  if (input.type != ValueType::kList) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is a ", ValueTypeName(input.type),
                     "; collected values (one per iteration) need a list input"));
  }
  return absl::OkStatus();
}

Status Pipeline::CheckCollect(const Task& task, const IoSpec& input, const InputBinding& b,
                              const std::string& where) const {
  if (input.type != ValueType::kList) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is a ", ValueTypeName(input.type),
                                                   "; only a list input can gather values"));
  }
  for (size_t i = 0; i < b.items.size(); ++i) {
    const InputBinding& item = b.items[i];
    if (item.kind == InputBinding::Kind::kCollect || item.kind == InputBinding::Kind::kGather) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": item ", i, " gathers again; nest lists as values"));
    }
    if (item.kind == InputBinding::Kind::kOneOf) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": item ", i, " is a OneOf; pass it to an input directly"));
    }
    if (item.kind == InputBinding::Kind::kLoopItem && !LoopWithin(task.options.loop, item.loop)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": item ", i, " uses the item of ParallelFor '", item.loop, "' outside its body"));
    }
    if (item.kind == InputBinding::Kind::kTaskOutput) {
      auto type = OutputType(item.task, item.output);
      if (!type.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " item ", i, ": ", type.status().message()));
      }
      if (IsArtifactType(*type)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " item ", i, " is a ", ValueTypeName(*type),
                         " artifact; only parameters can be gathered into a list"));
      }
      MLCORE_RETURN_IF_ERROR(CheckLoopAccess(task, item.task, absl::StrCat(where, " item ", i)));
    } else if (item.kind == InputBinding::Kind::kParameter &&
               std::none_of(parameters_.begin(), parameters_.end(),
                            [&](const IoSpec& s) { return s.name == item.parameter; })) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " item ", i, " refers to unknown pipeline parameter '", item.parameter, "'"));
    }
  }
  return absl::OkStatus();
}

Status Pipeline::CheckLoopAccess(const Task& task, const std::string& producer,
                                 const std::string& where) const {
  const Task* p = FindTask(producer);
  if (p == nullptr || LoopWithin(task.options.loop, p->options.loop)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      where, " uses task '", producer, "', which runs once per iteration of ParallelFor '",
      p->options.loop, "': gather its outputs into a list with Collected (InputBinding::Gather)"));
}

}  // namespace mlcore::pipeline

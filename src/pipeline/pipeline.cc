#include "mlcore/pipeline/pipeline.h"

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/store/artifact_store.h"

namespace mlcore::pipeline {

InputBinding InputBinding::Constant(Json value) {
  InputBinding b;
  b.kind = Kind::kConstant;
  b.constant = std::move(value);
  return b;
}

InputBinding InputBinding::Parameter(std::string name) {
  InputBinding b;
  b.kind = Kind::kParameter;
  b.parameter = std::move(name);
  return b;
}

InputBinding InputBinding::Output(std::string task, std::string output) {
  InputBinding b;
  b.kind = Kind::kTaskOutput;
  b.task = std::move(task);
  b.output = std::move(output);
  return b;
}

InputBinding InputBinding::Collect(std::vector<InputBinding> items) {
  InputBinding b;
  b.kind = Kind::kCollect;
  b.items = std::move(items);
  return b;
}

std::vector<std::string> Task::Upstream() const {
  std::set<std::string> up(after.begin(), after.end());
  for (const auto& [input, b] : arguments) {
    if (b.kind == InputBinding::Kind::kTaskOutput) up.insert(b.task);
    for (const InputBinding& item : b.items) {
      if (item.kind == InputBinding::Kind::kTaskOutput) up.insert(item.task);
    }
  }
  for (const Condition& c : options.conditions) {
    if (c.lhs.kind == InputBinding::Kind::kTaskOutput) up.insert(c.lhs.task);
  }
  return {up.begin(), up.end()};
}

StatusOr<Pipeline> Pipeline::Create(std::string name, std::vector<IoSpec> parameters) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]*");
  if (!std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline name '", name, "' must be letters, digits, '_', '-', '.'"));
  }
  // Parameters follow the rules of component inputs; reuse that validation.
  Component probe;
  probe.name = name;
  probe.inputs = parameters;
  probe.command = {"true"};
  Status st = probe.Validate();
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", name, "' parameters: ", st.message()));
  }
  Pipeline p;
  p.name_ = std::move(name);
  p.parameters_ = std::move(parameters);
  return p;
}

const Task* Pipeline::FindTask(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tasks_[it->second];
}

StatusOr<ValueType> Pipeline::OutputType(std::string_view task, std::string_view output) const {
  const Task* t = FindTask(task);
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no task '", std::string(task), "'"));
  }
  const IoSpec* spec = t->component->FindOutput(output);
  if (spec == nullptr) {
    std::vector<std::string> names;
    for (const IoSpec& o : t->component->outputs) names.push_back(o.name);
    return absl::InvalidArgumentError(
        absl::StrCat("task '", std::string(task), "' (component '", t->component->name,
                     "') has no output '", std::string(output),
                     "' (outputs: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
  }
  return spec->type;
}

Status Pipeline::CheckBinding(const Task& task, const IoSpec& input, const InputBinding& b) const {
  auto where = [&] {
    return absl::StrCat("task '", task.name, "' (component '", task.component->name, "') input '",
                        input.name, "'");
  };
  ValueType from;
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
      from = *type;
      break;
    }
    case InputBinding::Kind::kCollect: {
      if (input.type != ValueType::kList) {
        return absl::InvalidArgumentError(absl::StrCat(where(), " is a ", ValueTypeName(input.type),
                                                       "; only a list input can gather values"));
      }
      for (size_t i = 0; i < b.items.size(); ++i) {
        const InputBinding& item = b.items[i];
        if (item.kind == InputBinding::Kind::kCollect) {
          return absl::InvalidArgumentError(
              absl::StrCat(where(), ": item ", i, " gathers again; nest lists as values"));
        }
        if (item.kind == InputBinding::Kind::kTaskOutput) {
          auto type = OutputType(item.task, item.output);
          if (!type.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(where(), " item ", i, ": ", type.status().message()));
          }
          if (IsArtifactType(*type)) {
            return absl::InvalidArgumentError(
                absl::StrCat(where(), " item ", i, " is a ", ValueTypeName(*type),
                             " artifact; only parameters can be gathered into a list"));
          }
        } else if (item.kind == InputBinding::Kind::kParameter &&
                   std::none_of(parameters_.begin(), parameters_.end(),
                                [&](const IoSpec& s) { return s.name == item.parameter; })) {
          return absl::InvalidArgumentError(absl::StrCat(where(), " item ", i,
                                                         " refers to unknown pipeline parameter '",
                                                         item.parameter, "'"));
        }
      }
      return absl::OkStatus();
    }
  }
  if (!TypeAccepts(input.type, from)) {
    return absl::InvalidArgumentError(absl::StrCat(where(), " expects ", ValueTypeName(input.type),
                                                   " but is given a ", ValueTypeName(from)));
  }
  return absl::OkStatus();
}

std::string Pipeline::UniqueTaskName(std::string_view base) const {
  std::string name(base);
  for (int i = 2; index_.count(name) > 0; ++i) name = absl::StrCat(std::string(base), "-", i);
  return name;
}

Status Pipeline::AddTask(std::string name, std::shared_ptr<const Component> component,
                         std::map<std::string, InputBinding> arguments, TaskOptions options) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]*");
  if (component == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("task '", name, "' has no component"));
  }
  if (!std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(absl::StrCat("task name '", name, "' (component '",
                                                   component->name,
                                                   "') must be letters, digits, '_', '-', '.'"));
  }
  if (index_.count(name) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("pipeline '", name_, "' already has a task '",
                                                 name, "' (component '", component->name, "')"));
  }
  MLCORE_RETURN_IF_ERROR(component->Validate());
  Task task;
  task.name = name;
  task.component = component;
  for (const auto& [input, binding] : arguments) {
    if (component->FindInput(input) == nullptr) {
      std::vector<std::string> names;
      for (const IoSpec& s : component->inputs) names.push_back(s.name);
      return absl::InvalidArgumentError(
          absl::StrCat("task '", name, "': component '", component->name, "' has no input '", input,
                       "' (inputs: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
  }
  for (const IoSpec& input : component->inputs) {
    auto it = arguments.find(input.name);
    if (it == arguments.end()) {
      if (input.default_value.has_value()) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("task '", name, "' (component '", component->name, "') is missing input '",
                       input.name, "' (", ValueTypeName(input.type), ")"));
    }
    MLCORE_RETURN_IF_ERROR(CheckBinding(task, input, it->second));
  }
  for (const Condition& c : options.conditions) {
    static const std::set<std::string> kOps = {"==", "!=", "<", "<=", ">", ">="};
    if (kOps.count(c.op) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("task '", name, "': unknown condition operator '", c.op, "'"));
    }
    if (c.lhs.kind == InputBinding::Kind::kTaskOutput) {
      auto type = OutputType(c.lhs.task, c.lhs.output);
      if (!type.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("task '", name, "' condition: ", type.status().message()));
      }
      if (IsArtifactType(*type)) {
        return absl::InvalidArgumentError(
            absl::StrCat("task '", name, "' condition: output '", c.lhs.output, "' of task '",
                         c.lhs.task, "' is an artifact; conditions compare parameters"));
      }
    } else if (c.lhs.kind == InputBinding::Kind::kParameter) {
      auto it = std::find_if(parameters_.begin(), parameters_.end(),
                             [&](const IoSpec& s) { return s.name == c.lhs.parameter; });
      if (it == parameters_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("task '", name, "' condition refers to unknown pipeline parameter '",
                         c.lhs.parameter, "'"));
      }
    }
  }
  task.arguments = std::move(arguments);
  task.options = std::move(options);
  index_.emplace(name, tasks_.size());
  tasks_.push_back(std::move(task));
  return absl::OkStatus();
}

bool Pipeline::Reaches(std::string_view from, std::string_view to) const {
  // Depth-first search along upstream edges from `from`.
  std::vector<std::string> stack = {std::string(from)};
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string cur = stack.back();
    stack.pop_back();
    if (cur == to) return true;
    if (!seen.insert(cur).second) continue;
    const Task* t = FindTask(cur);
    if (t == nullptr) continue;
    for (const std::string& up : t->Upstream()) stack.push_back(up);
  }
  return false;
}

Status Pipeline::After(std::string_view task, std::string_view upstream) {
  auto it = index_.find(task);
  if (it == index_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("after: no task '", std::string(task), "'"));
  }
  if (FindTask(upstream) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("task '", std::string(task),
                                                   "' cannot run after unknown task '",
                                                   std::string(upstream), "'"));
  }
  if (task == upstream || Reaches(upstream, task)) {
    return absl::InvalidArgumentError(absl::StrCat("running task '", std::string(task), "' after '",
                                                   std::string(upstream), "' would make a cycle ('",
                                                   std::string(upstream), "' already depends on '",
                                                   std::string(task), "')"));
  }
  Task& t = tasks_[it->second];
  if (std::find(t.after.begin(), t.after.end(), upstream) == t.after.end()) {
    t.after.emplace_back(upstream);
  }
  return absl::OkStatus();
}

Status Pipeline::SetRunAlways(std::string_view task, bool run_always) {
  auto it = index_.find(task);
  if (it == index_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("no task '", std::string(task), "'"));
  }
  tasks_[it->second].options.run_always = run_always;
  return absl::OkStatus();
}

Status Pipeline::AddOutput(std::string name, std::string task, std::string output) {
  auto type = OutputType(task, output);
  if (!type.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", name_, "' output '", name, "': ", type.status().message()));
  }
  for (const PipelineOutput& o : outputs_) {
    if (o.name == name) {
      return absl::AlreadyExistsError(
          absl::StrCat("pipeline '", name_, "' already has an output '", name, "'"));
    }
  }
  outputs_.push_back({std::move(name), std::move(task), std::move(output)});
  return absl::OkStatus();
}

StatusOr<std::map<std::string, Json>> Pipeline::ResolveArguments(const Json& arguments) const {
  if (!arguments.is_null() && !arguments.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", name_, "': arguments must be a mapping of name to value"));
  }
  std::map<std::string, Json> out;
  if (arguments.is_object()) {
    for (const auto& [k, v] : arguments.items()) {
      auto it = std::find_if(parameters_.begin(), parameters_.end(),
                             [&](const IoSpec& s) { return s.name == k; });
      if (it == parameters_.end()) {
        std::vector<std::string> names;
        for (const IoSpec& s : parameters_) names.push_back(s.name);
        return absl::InvalidArgumentError(absl::StrCat(
            "pipeline '", name_, "' has no parameter '", k,
            "' (parameters: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
      }
      Status st = CheckParameterValue(it->type, v);
      if (!st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pipeline '", name_, "' parameter '", k, "': ", st.message()));
      }
      out[k] = v;
    }
  }
  for (const IoSpec& s : parameters_) {
    if (out.count(s.name) > 0) continue;
    if (!s.default_value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline '", name_, "' parameter '", s.name,
                                                     "' (", ValueTypeName(s.type),
                                                     ") has no value and no default"));
    }
    out[s.name] = *s.default_value;
  }
  return out;
}

namespace {
Json BindingJson(const InputBinding& b) {
  switch (b.kind) {
    case InputBinding::Kind::kConstant:
      return {{"constant", b.constant}};
    case InputBinding::Kind::kParameter:
      return {{"parameter", b.parameter}};
    case InputBinding::Kind::kTaskOutput:
      return {{"task", b.task}, {"output", b.output}};
    case InputBinding::Kind::kCollect: {
      Json items = Json::array();
      for (const InputBinding& item : b.items) items.push_back(BindingJson(item));
      return {{"collect", items}};
    }
  }
  return nullptr;
}
}  // namespace

Json Pipeline::ToJson() const {
  Json j;
  j["name"] = name_;
  j["parameters"] = Json::array();
  for (const IoSpec& s : parameters_) {
    Json e = {{"name", s.name}, {"type", ValueTypeName(s.type)}};
    if (s.default_value) e["default"] = *s.default_value;
    j["parameters"].push_back(e);
  }
  j["tasks"] = Json::array();
  for (const Task& t : tasks_) {
    Json e;
    e["name"] = t.name;
    e["component"] = t.component->name;
    e["component_digest"] = t.component->DefinitionDigest();
    e["arguments"] = Json::object();
    for (const auto& [k, b] : t.arguments) e["arguments"][k] = BindingJson(b);
    e["after"] = t.after;
    e["run_always"] = t.options.run_always;
    e["conditions"] = Json::array();
    for (const Condition& c : t.options.conditions) {
      e["conditions"].push_back(
          {{"lhs", BindingJson(c.lhs)}, {"op", c.op}, {"rhs", c.rhs}, {"negate", c.negate}});
    }
    j["tasks"].push_back(e);
  }
  j["outputs"] = Json::array();
  for (const PipelineOutput& o : outputs_) {
    j["outputs"].push_back({{"name", o.name}, {"task", o.task}, {"output", o.output}});
  }
  return j;
}

std::string Pipeline::Digest() const {
  auto d = store::Sha256Hex(ToJson().dump());
  return d.ok() ? *d : std::string();
}

}  // namespace mlcore::pipeline

#include "mlcore/pipeline/pipeline.h"

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/store/artifact_store.h"

namespace mlcore::pipeline {

bool Pipeline::LoopWithin(std::string loop, const std::string& ancestor) const {
  if (ancestor.empty()) return true;
  while (!loop.empty()) {
    if (loop == ancestor) return true;
    const Loop* l = FindLoop(loop);
    if (l == nullptr) return false;
    loop = l->parent;
  }
  return false;
}

InputBinding InputBinding::Constant(Json value) {
  return {.kind = Kind::kConstant, .constant = std::move(value)};
}

InputBinding InputBinding::Parameter(std::string name) {
  return {.kind = Kind::kParameter, .parameter = std::move(name)};
}

InputBinding InputBinding::Output(std::string task, std::string output) {
  return {.kind = Kind::kTaskOutput, .task = std::move(task), .output = std::move(output)};
}

InputBinding InputBinding::Collect(std::vector<InputBinding> items) {
  return {.kind = Kind::kCollect, .items = std::move(items)};
}

InputBinding InputBinding::LoopItem(std::string loop, std::string field) {
  return {.kind = Kind::kLoopItem, .loop = std::move(loop), .field = std::move(field)};
}

InputBinding InputBinding::Gather(std::string task, std::string output) {
  return {.kind = Kind::kGather, .task = std::move(task), .output = std::move(output)};
}

std::vector<std::string> Task::Upstream() const {
  std::set<std::string> up(after.begin(), after.end());
  auto from_task = [](InputBinding::Kind k) {
    return k == InputBinding::Kind::kTaskOutput || k == InputBinding::Kind::kGather;
  };
  for (const auto& [input, b] : arguments) {
    if (from_task(b.kind)) up.insert(b.task);
    for (const InputBinding& item : b.items) {
      if (from_task(item.kind)) up.insert(item.task);
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

const Loop* Pipeline::FindLoop(std::string_view name) const {
  for (const Loop& l : loops_) {
    if (l.name == name) return &l;
  }
  return nullptr;
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

std::string Pipeline::UniqueTaskName(std::string_view base) const {
  auto taken = [&](const std::string& n) {
    return index_.count(n) > 0 || FindLoop(n) != nullptr || FindGroup(n) != nullptr;
  };
  auto it = next_suffix_.find(base);
  if (it == next_suffix_.end()) {
    std::string name(base);
    if (!taken(name)) return name;
    it = next_suffix_.emplace(std::string(base), 2).first;
  }
  // Suffixes below next_suffix_ were taken when last asked; names are never removed, so they
  // still are. Each call moves past at most the names added since.
  std::string name;
  for (;; ++it->second) {
    name = absl::StrCat(it->first, "-", it->second);
    if (!taken(name)) break;
  }
  return name;
}

Status Pipeline::AddLoop(std::string name, InputBinding items, int parallelism,
                         std::string parent) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]*");
  const std::string where = absl::StrCat("ParallelFor '", name, "'");
  if (!std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the name must be letters, digits, '_', '-', '.'"));
  }
  if (index_.count(name) > 0 || FindLoop(name) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("pipeline '", name_, "' already has a task or loop '", name, "'"));
  }
  if (parallelism < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": parallelism must be >= 0 (0: no limit), not ", parallelism));
  }
  if (!parent.empty() && FindLoop(parent) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is nested in unknown ParallelFor '", parent, "'"));
  }
  MLCORE_RETURN_IF_ERROR(CheckLoopItems(where, items, parent));
  Loop loop;
  // For compilation: the open group, and KFP's group numbering (a constant list takes two).
  loop.group = open_groups_.empty() ? "" : open_groups_.back();
  group_ids_ += items.kind == InputBinding::Kind::kConstant ? 2 : 1;
  loop.parent = std::move(parent);
  loop.name = std::move(name);
  loop.items = std::move(items);
  loop.parallelism = parallelism;
  loops_.push_back(std::move(loop));
  return absl::OkStatus();
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
  if (index_.count(name) > 0 || FindLoop(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("pipeline '", name_, "' already has a task '",
                                                 name, "' (component '", component->name, "')"));
  }
  MLCORE_RETURN_IF_ERROR(component->Validate());
  if (FindGroup(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("pipeline '", name_, "' already has a group '",
                                                 name, "' (component '", component->name, "')"));
  }
  // Joins its group (pipeline_groups.cc): inherits the group's loop and conditions.
  MLCORE_RETURN_IF_ERROR(JoinGroup(name, options));
  Task task;
  task.name = name;
  task.component = component;
  task.options.loop = options.loop;
  task.options.group = options.group;  // where a OneOf input is read from
  if (!options.loop.empty() && FindLoop(options.loop) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("task '", name, "' (component '", component->name,
                     "') is in unknown ParallelFor '", options.loop, "'"));
  }
  MLCORE_RETURN_IF_ERROR(CheckArguments(task, arguments));
  for (const Condition& c : options.conditions) {
    MLCORE_RETURN_IF_ERROR(
        CheckCondition(c, task.options.loop, absl::StrCat("task '", name, "' condition"), true));
  }
  task.arguments = std::move(arguments);
  task.options = std::move(options);
  if (!task.options.loop.empty()) {
    MLCORE_RETURN_IF_ERROR(CheckLoopBodyEdges(task));
    loops_[FindLoop(task.options.loop) - loops_.data()].body.push_back(name);
  }
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
  // While every edge runs from an earlier-added task to a later one the DAG cannot have a
  // cycle, and a new edge of that kind keeps it so: only a backward edge needs the search (which
  // made building a large DAG quadratic).
  const size_t from = index_.find(upstream)->second;
  const bool forward = from < it->second && forward_only_;
  if (task == upstream || (!forward && Reaches(upstream, task))) {
    return absl::InvalidArgumentError(absl::StrCat("running task '", std::string(task), "' after '",
                                                   std::string(upstream), "' would make a cycle ('",
                                                   std::string(upstream), "' already depends on '",
                                                   std::string(task), "')"));
  }
  Task& t = tasks_[it->second];
  const Task* u = FindTask(upstream);
  if (!LoopWithin(t.options.loop, u->options.loop) &&
      !LoopWithin(u->options.loop, t.options.loop)) {
    return absl::InvalidArgumentError(
        absl::StrCat("task '", std::string(task), "' (in ParallelFor '", t.options.loop,
                     "') cannot run after task '", std::string(upstream), "' of ParallelFor '",
                     u->options.loop, "'"));
  }
  if (!forward) forward_only_ = false;
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
  if (!FindTask(task)->options.loop.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", name_, "' output '", name, "': task '", task,
                     "' runs once per iteration of ParallelFor '", FindTask(task)->options.loop,
                     "'; return a task that collects its outputs"));
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
      const std::string& key = k;  // clang 14 cannot capture a structured binding
      auto it = std::find_if(parameters_.begin(), parameters_.end(),
                             [&](const IoSpec& s) { return s.name == key; });
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
    case InputBinding::Kind::kLoopItem:
      return {{"loop_item", b.loop}, {"field", b.field}};
    case InputBinding::Kind::kGather:
      return {{"gather", b.task}, {"output", b.output}};
    case InputBinding::Kind::kOneOf: {
      Json items = Json::array();
      for (const InputBinding& item : b.items) items.push_back(BindingJson(item));
      return {{"one_of", items}};
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
    // Only loop members say so: pipelines without loops keep their digests (and caches).
    if (!t.options.loop.empty()) e["loop"] = t.options.loop;
    e["conditions"] = Json::array();
    for (const Condition& c : t.options.conditions) {
      e["conditions"].push_back(
          {{"lhs", BindingJson(c.lhs)}, {"op", c.op}, {"rhs", c.rhs}, {"negate", c.negate}});
    }
    j["tasks"].push_back(e);
  }
  if (!loops_.empty()) {
    j["loops"] = Json::array();
    for (const Loop& l : loops_) {
      j["loops"].push_back({{"name", l.name},
                            {"items", BindingJson(l.items)},
                            {"parallelism", l.parallelism},
                            {"body", l.body}});
      // Only nested loops say so: other pipelines keep their digests (and caches).
      if (!l.parent.empty()) j["loops"].back()["parent"] = l.parent;
    }
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

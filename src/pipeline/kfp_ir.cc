// Building blocks of KFP's IR shared by the DAG compiler: types, placeholders, channel names,
// CEL literals and a task's executor.
#include "pipeline/kfp_ir.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace mlcore::pipeline::internal {

const char* KfpParameterType(ValueType t) {
  switch (t) {
    case ValueType::kInt:
      return "NUMBER_INTEGER";
    case ValueType::kFloat:
      return "NUMBER_DOUBLE";
    case ValueType::kString:
      return "STRING";
    case ValueType::kBool:
      return "BOOLEAN";
    case ValueType::kList:
      return "LIST";
    default:
      return "STRUCT";
  }
}

Json ArtifactType(ValueType t) {
  return {{"schemaTitle", absl::StrCat("system.", ValueTypeName(t))}, {"schemaVersion", "0.0.1"}};
}

std::string KfpPlaceholders(const std::string& arg) {
  static const std::regex kIn(R"(\{\{inputs\.parameters\.([A-Za-z0-9_]+)\}\})");
  static const std::regex kInArt(R"(\{\{inputs\.artifacts\.([A-Za-z0-9_]+)\.path\}\})");
  static const std::regex kOutArt(R"(\{\{outputs\.artifacts\.([A-Za-z0-9_]+)\.path\}\})");
  static const std::regex kOutPar(R"(\{\{outputs\.parameters\.([A-Za-z0-9_]+)\.path\}\})");
  std::string s = std::regex_replace(arg, kIn, "{{$$.inputs.parameters['$1']}}");
  s = std::regex_replace(s, kInArt, "{{$$.inputs.artifacts['$1'].path}}");
  s = std::regex_replace(s, kOutArt, "{{$$.outputs.artifacts['$1'].path}}");
  s = std::regex_replace(s, kOutPar, "{{$$.outputs.parameters['$1'].output_file}}");
  return s;
}

std::string DurationText(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d), "s"); }

std::string CelLiteral(const Json& v) {
  if (v.is_string()) {
    return absl::StrCat(
        "'", absl::StrReplaceAll(v.get<std::string>(), {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
  }
  return v.dump();
}

std::string Channel(const InputBinding& b) {
  return b.kind == InputBinding::Kind::kParameter
             ? absl::StrCat("pipelinechannel--", b.parameter)
             : absl::StrCat("pipelinechannel--", b.task, "-", b.output);
}

Json ParameterSpec(const IoSpec& s) {
  Json j = {{"parameterType", KfpParameterType(s.type)}};
  if (s.default_value) {
    j["defaultValue"] = *s.default_value;
    j["isOptional"] = true;
  }
  return j;
}

KfpLoopNames NameLoopsAsKfp(const Pipeline& p) {
  using Kind = InputBinding::Kind;
  // Every group's name carries its number (condition-N, condition-branches-N, exit-handler-N;
  // pipelines used as components take none); the numbers no group took went to the loops, in
  // the order they were declared.
  std::set<int> taken;
  for (const TaskGroup& g : p.groups()) {
    if (g.kind == TaskGroup::Kind::kPipeline) continue;
    for (const std::string pre : {"condition-branches-", "condition-", "exit-handler-"}) {
      if (g.name.rfind(pre, 0) != 0) continue;
      const size_t end = g.name.find('-', pre.size());
      const std::string digits =
          g.name.substr(pre.size(), end == std::string::npos ? end : end - pre.size());
      if (!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        taken.insert(std::stoi(digits));
      }
      break;
    }
  }
  int n = 0;
  auto next = [&] {
    do ++n;
    while (taken.count(n) > 0);
    return n;
  };
  KfpLoopNames names;
  for (const Loop& l : p.loops()) {
    if (l.items.kind == Kind::kConstant) {
      names.item_inputs[l.name] = absl::StrCat("pipelinechannel--loop-item-param-", next());
      names.loops[l.name] = absl::StrCat("for-loop-", next());
      continue;
    }
    names.loops[l.name] = absl::StrCat("for-loop-", next());
    // An outer loop's item input is known: loops are declared after the loops they nest in.
    names.item_inputs[l.name] =
        (l.items.kind == Kind::kLoopItem ? ItemChannel(names.item_inputs, l.items)
                                         : Channel(l.items)) +
        "-loop-item";
  }
  return names;
}

std::string ItemChannel(const std::map<std::string, std::string>& item_inputs,
                        const InputBinding& b) {
  return item_inputs.at(b.loop) + (b.field.empty() ? "" : "-subvar-" + b.field);
}

std::optional<ValueType> ConstantItemType(const Pipeline& p, const InputBinding& b) {
  const Loop* loop = p.FindLoop(b.loop);
  if (loop == nullptr || loop->items.kind != InputBinding::Kind::kConstant ||
      loop->items.constant.empty()) {
    return std::nullopt;
  }
  Json item = loop->items.constant[0];
  if (!b.field.empty()) {
    if (!item.is_object() || !item.contains(b.field)) return std::nullopt;
    item = item[b.field];
  }
  if (item.is_object()) return ValueType::kDict;
  if (item.is_array()) return ValueType::kList;
  if (item.is_boolean()) return ValueType::kBool;
  if (item.is_number_integer()) return ValueType::kInt;
  if (item.is_number()) return ValueType::kFloat;
  return ValueType::kString;
}

bool SameBinding(const InputBinding& a, const InputBinding& b) {
  using Kind = InputBinding::Kind;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kConstant:
      return a.constant.dump() == b.constant.dump();
    case Kind::kParameter:
      return a.parameter == b.parameter;
    case Kind::kTaskOutput:
    case Kind::kGather:
      return a.task == b.task && a.output == b.output;
    case Kind::kLoopItem:
      return a.loop == b.loop && a.field == b.field;
    case Kind::kCollect:
      return false;
    case Kind::kOneOf:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!SameBinding(a.items[i], b.items[i])) return false;
      }
      return true;
  }
  return false;
}

namespace {

std::string ShellQuote(const std::string& word) {
  return "'" + absl::StrReplaceAll(word, {{"'", "'\"'\"'"}}) + "'";
}

// kfp's lightweight-component start: `sh -ec '<pip install the packages>; exec "$0" "$@"'`
// followed by the command, so the packages are installed into the interpreter the command then
// runs (pip bootstrapped by ensurepip in an image without it). Empty without packages.
std::vector<std::string> InstallPackagesPrefix(const CompileOptions& options, const Component& c) {
  std::vector<std::string> packages;
  for (const auto* list : {&options.packages_to_install, &c.packages_to_install}) {
    for (const std::string& p : *list) {
      if (std::find(packages.begin(), packages.end(), p) == packages.end()) packages.push_back(p);
    }
  }
  if (packages.empty()) return {};
  std::string script =
      "if ! python3 -m pip --version >/dev/null 2>&1; then python3 -m ensurepip --default-pip "
      ">/dev/null; fi\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet "
      "--no-warn-script-location";
  for (const std::string& p : packages) absl::StrAppend(&script, " ", ShellQuote(p));
  absl::StrAppend(&script, "\nexec \"$0\" \"$@\"\n");
  return {"sh", "-ec", script};
}

}  // namespace

Json ExecutorSpec(const Component& c, const std::vector<std::string>& command,
                  const CompileOptions& options) {
  Json container = {{"image", c.image.empty() ? options.base_image : c.image}};
  std::vector<std::string> args = InstallPackagesPrefix(options, c);
  for (const std::string& a : command) args.push_back(KfpPlaceholders(a));
  container["command"] = args;
  if (!c.env.empty()) {
    Json env = Json::array();
    for (const auto& [k, v] : c.env) env.push_back({{"name", k}, {"value", v}});
    container["env"] = env;
  }
  Json resources = Json::object();
  if (c.resources.cpu_limit > 0) {
    resources["resourceCpuLimit"] = absl::StrCat(c.resources.cpu_limit);
    resources["cpuLimit"] = c.resources.cpu_limit;
  }
  if (c.resources.memory_bytes > 0) {
    resources["resourceMemoryLimit"] = absl::StrCat(c.resources.memory_bytes);
    resources["memoryLimit"] = static_cast<double>(c.resources.memory_bytes) / 1e9;
  }
  if (c.resources.gpu > 0) {
    resources["accelerator"] = {{"resourceType", options.accelerator_type},
                                {"resourceCount", absl::StrCat(c.resources.gpu)},
                                {"type", options.accelerator_type},
                                {"count", c.resources.gpu}};
  }
  if (!resources.empty()) container["resources"] = resources;
  return {{"container", container}};
}

}  // namespace mlcore::pipeline::internal

// Building blocks of KFP's IR shared by the DAG compiler: types, placeholders, channel names,
// CEL literals and a task's executor.
#include "pipeline/kfp_ir.h"

#include <regex>

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

std::string LoopItemInput(const Loop& loop) {
  using Kind = InputBinding::Kind;
  switch (loop.items.kind) {
    case Kind::kTaskOutput:
    case Kind::kParameter:
      return Channel(loop.items) + "-loop-item";
    default:
      return absl::StrCat("pipelinechannel--", loop.name, "-loop-item");
  }
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
  }
  return false;
}

Json ExecutorSpec(const Component& c, const std::vector<std::string>& command,
                  const CompileOptions& options) {
  Json container = {{"image", c.image}};
  std::vector<std::string> args;
  for (const std::string& a : command) args.push_back(KfpPlaceholders(a));
  container["command"] = args;
  if (!c.env.empty()) {
    Json env = Json::array();
    for (const auto& [k, v] : c.env) env.push_back({{"name", k}, {"value", v}});
    container["env"] = env;
  }
  Json resources = Json::object();
  if (c.resources.cpu > 0) {
    resources["resourceCpuLimit"] = absl::StrCat(c.resources.cpu);
    resources["cpuLimit"] = c.resources.cpu;
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

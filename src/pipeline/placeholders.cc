#include "pipeline/placeholders.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/strings.h"

namespace mlcore::pipeline::internal {
namespace {

// Calls fn(placeholder body) for each "{{...}}" in arg, appending the replacement to `out`.
template <typename Fn>
Status ForEachPlaceholder(const std::string& arg, std::string* out, Fn fn) {
  size_t pos = 0;
  while (true) {
    size_t open = arg.find("{{", pos);
    if (open == std::string::npos) {
      if (out) out->append(arg, pos, std::string::npos);
      return absl::OkStatus();
    }
    size_t close = arg.find("}}", open + 2);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unterminated placeholder in '", arg, "'"));
    }
    if (out) out->append(arg, pos, open - pos);
    std::string body = arg.substr(open + 2, close - open - 2);
    MLCORE_RETURN_IF_ERROR(fn(body));
    pos = close + 2;
  }
}

struct Parsed {
  std::string section;  // inputs.parameters, inputs.artifacts, outputs.artifacts, ...
  std::string name;
  bool whole = false;  // {{$}}
};

StatusOr<Parsed> Parse(const std::string& body) {
  if (body == "$") return Parsed{"", "", true};
  std::vector<std::string> parts = absl::StrSplit(mlcore::internal::AV(body), '.');
  if (parts.size() == 3 && parts[0] == "inputs" && parts[1] == "parameters") {
    return Parsed{"inputs.parameters", parts[2]};
  }
  if (parts.size() == 4 && parts[3] == "path" && (parts[0] == "inputs" || parts[0] == "outputs") &&
      (parts[1] == "artifacts" || parts[1] == "parameters")) {
    if (parts[0] == "inputs" && parts[1] == "parameters") {
      return absl::InvalidArgumentError(
          absl::StrCat("placeholder {{", body, "}}: input parameters have no path"));
    }
    return Parsed{parts[0] + "." + parts[1], parts[2]};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown placeholder {{", body,
                   "}} (expected {{inputs.parameters.NAME}}, {{inputs.artifacts.NAME.path}}, "
                   "{{outputs.artifacts.NAME.path}}, {{outputs.parameters.NAME.path}} or {{$}})"));
}

}  // namespace

std::string ParameterText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

Status CheckPlaceholders(const Component& c, const std::string& arg) {
  Status st = ForEachPlaceholder(arg, nullptr, [&](const std::string& body) -> Status {
    MLCORE_ASSIGN_OR_RETURN(Parsed p, Parse(body));
    if (p.whole) return absl::OkStatus();
    bool input = p.section.rfind("inputs", 0) == 0;
    const IoSpec* spec = input ? c.FindInput(p.name) : c.FindOutput(p.name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "placeholder {{", body, "}} names no ", input ? "input" : "output", " '", p.name, "'"));
    }
    bool wants_artifact = p.section.find("artifacts") != std::string::npos;
    if (wants_artifact != IsArtifactType(spec->type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "placeholder {{", body, "}}: '", p.name, "' is a ", ValueTypeName(spec->type),
          wants_artifact ? ", not an artifact" : ", not a parameter"));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("component '", c.name, "' command: ", st.message()));
  }
  return st;
}

StatusOr<std::string> ExpandPlaceholders(const std::string& arg, const TaskContext& ctx) {
  std::string out;
  MLCORE_RETURN_IF_ERROR(ForEachPlaceholder(arg, &out, [&](const std::string& body) -> Status {
    MLCORE_ASSIGN_OR_RETURN(Parsed p, Parse(body));
    auto missing = [&] {
      return absl::InvalidArgumentError(
          absl::StrCat("task '", ctx.task_name, "': placeholder {{", body, "}} has no value"));
    };
    if (p.whole) {
      out += ctx.ExecutorInput();
    } else if (p.section == "inputs.parameters") {
      auto it = ctx.params.find(p.name);
      if (it == ctx.params.end()) return missing();
      out += ParameterText(it->second);
    } else if (p.section == "inputs.artifacts") {
      auto it = ctx.inputs.find(p.name);
      if (it == ctx.inputs.end()) return missing();
      out += it->second.path;
    } else if (p.section == "outputs.artifacts") {
      auto it = ctx.outputs.find(p.name);
      if (it == ctx.outputs.end()) return missing();
      out += it->second.path;
    } else {
      auto it = ctx.output_param_paths.find(p.name);
      if (it == ctx.output_param_paths.end()) return missing();
      out += it->second;
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace mlcore::pipeline::internal

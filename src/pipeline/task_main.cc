// One task of a C++ pipeline inside a Kubeflow container: Kubeflow's ExecutorInput in, the
// callable run on a TaskContext built from it, its outputs written where the launcher reads
// them. The mapping is the Python runner's (mlcore/pipelines/_invoke.py from_kfp), so C++ and
// Python components behave alike on a cluster.
#include "mlcore/pipeline/task_main.h"

#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mlcore::pipeline {
namespace {

// The launcher mounts remote artifact stores as local directories.
std::string LocalPath(const std::string& uri) {
  static constexpr std::pair<const char*, const char*> kMounts[] = {
      {"gs://", "/gcs/"}, {"minio://", "/minio/"}, {"s3://", "/s3/"}};
  for (const auto& [prefix, mount] : kMounts) {
    if (absl::StartsWith(uri, prefix)) return mount + uri.substr(std::strlen(prefix));
  }
  return uri;
}

// The first artifact of an ExecutorInput artifact list entry ({"artifacts": [{...}]}).
StatusOr<Json> FirstArtifact(const Json& entry, const std::string& name) {
  if (!entry.is_object() || !entry.contains("artifacts") || !entry["artifacts"].is_array() ||
      entry["artifacts"].empty() || !entry["artifacts"][0].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor input: artifact '", name, "' has no \"artifacts\" list"));
  }
  return entry["artifacts"][0];
}

Status FillInputs(const Component& c, const Json& in, TaskContext& ctx) {
  const Json params = in.value("parameterValues", Json::object());
  const Json artifacts = in.value("artifacts", Json::object());
  for (const IoSpec& io : c.inputs) {
    if (IsArtifactType(io.type)) {
      if (!artifacts.contains(io.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("executor input: no artifact for input '", io.name, "'"));
      }
      MLCORE_ASSIGN_OR_RETURN(Json art, FirstArtifact(artifacts[io.name], io.name));
      ArtifactRef ref;
      ref.type = io.type;
      ref.path = LocalPath(art.value("uri", ""));
      ref.metadata = art.value("metadata", Json::object());
      ref.directory = std::filesystem::is_directory(ref.path);
      ctx.inputs[io.name] = std::move(ref);
      continue;
    }
    Json value;
    if (params.contains(io.name)) {
      value = params[io.name];
    } else if (io.default_value) {
      value = *io.default_value;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("executor input: no value for parameter '", io.name, "'"));
    }
    // KFP passes every number as a JSON number; a float input sees a float, as in Python.
    if (io.type == ValueType::kFloat && value.is_number()) value = value.get<double>();
    ctx.params[io.name] = std::move(value);
  }
  return absl::OkStatus();
}

Status FillOutputs(const Component& c, const Json& out, TaskContext& ctx) {
  const Json params = out.value("parameters", Json::object());
  const Json artifacts = out.value("artifacts", Json::object());
  for (const IoSpec& io : c.outputs) {
    if (IsArtifactType(io.type)) {
      if (!artifacts.contains(io.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("executor input: no artifact for output '", io.name, "'"));
      }
      MLCORE_ASSIGN_OR_RETURN(Json art, FirstArtifact(artifacts[io.name], io.name));
      ArtifactRef ref;
      ref.type = io.type;
      ref.path = LocalPath(art.value("uri", ""));
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(ref.path).parent_path(), ec);
      ctx.outputs[io.name] = std::move(ref);
    } else {
      if (!params.contains(io.name) || !params[io.name].contains("outputFile")) {
        return absl::InvalidArgumentError(
            absl::StrCat("executor input: no outputFile for output parameter '", io.name, "'"));
      }
      ctx.output_param_paths[io.name] = params[io.name]["outputFile"].get<std::string>();
    }
  }
  return absl::OkStatus();
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

Status WriteOutputs(const Component& c, const TaskContext& ctx) {
  for (const IoSpec& io : c.outputs) {
    if (IsArtifactType(io.type)) {
      const ArtifactRef& ref = ctx.outputs.at(io.name);
      if (!ref.metadata.empty()) {
        MLCORE_RETURN_IF_ERROR(WriteFile(ref.path + ".metadata.json", ref.metadata.dump()));
      }
      continue;
    }
    auto it = ctx.output_params.find(io.name);
    if (it == ctx.output_params.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "component '", c.name, "' did not set its output parameter '", io.name, "'"));
    }
    MLCORE_RETURN_IF_ERROR(CheckParameterValue(io.type, it->second));
    const std::string text =
        it->second.is_string() ? it->second.get<std::string>() : it->second.dump();
    MLCORE_RETURN_IF_ERROR(WriteFile(ctx.output_param_paths.at(io.name), text));
  }
  return absl::OkStatus();
}

// The local executor's input (TaskContext::ExecutorInput, what a kSubprocess callable gets):
// the task's context as the executor built it, paths already local.
ArtifactRef LocalRef(const Json& e, ValueType fallback) {
  ArtifactRef ref;
  StatusOr<ValueType> type = ParseValueType(e.value("type", std::string()));
  ref.type = type.ok() ? *type : fallback;
  ref.path = e.value("path", std::string());
  ref.metadata = e.value("metadata", Json::object());
  ref.digest = e.value("digest", std::string());
  ref.directory = std::filesystem::is_directory(ref.path);
  return ref;
}

ArtifactList LocalList(const Json& a, ValueType type) {
  ArtifactList list;
  for (const Json& e : a) {
    if (e.is_array()) {
      list.lists.push_back(LocalList(e, type));
    } else if (e.is_object()) {
      list.artifacts.push_back(LocalRef(e, type));
    }
  }
  return list;
}

Status FillLocal(const Component& c, const Json& doc, TaskContext& ctx) {
  ctx.run_id = doc.value("run_id", std::string());
  ctx.task_name = doc.value("task", c.name);
  ctx.attempt = doc.value("attempt", 1);
  ctx.task_dir = doc.value("task_dir", ctx.task_dir);
  if (doc.contains("gpus") && doc["gpus"].is_array())
    ctx.gpus = doc["gpus"].get<std::vector<int>>();
  const Json params = doc.value("parameters", Json::object());
  const Json inputs = doc.value("inputs", Json::object());
  const Json outputs = doc.value("outputs", Json::object());
  const Json param_paths = doc.value("output_parameters", Json::object());
  for (const IoSpec& io : c.inputs) {
    if (io.list && inputs.contains(io.name)) {
      ctx.input_lists[io.name] = LocalList(inputs[io.name], io.type);
    } else if (IsArtifactType(io.type) && inputs.contains(io.name)) {
      ctx.inputs[io.name] = LocalRef(inputs[io.name], io.type);
    } else if (params.contains(io.name)) {
      ctx.params[io.name] = params[io.name];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("executor input: no value for input '", io.name, "'"));
    }
  }
  for (const IoSpec& io : c.outputs) {
    if (IsArtifactType(io.type) && outputs.contains(io.name)) {
      ctx.outputs[io.name] = LocalRef(outputs[io.name], io.type);
    } else if (!IsArtifactType(io.type) && param_paths.contains(io.name)) {
      ctx.output_param_paths[io.name] = param_paths[io.name].get<std::string>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("executor input: no place for output '", io.name, "'"));
    }
  }
  return absl::OkStatus();
}

const Component* FindComponent(const Pipeline& pipeline, const std::string& name) {
  for (const Task& t : pipeline.tasks()) {
    if (t.component && t.component->name == name) return t.component.get();
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> TaskMainCommand(const std::string& binary, const std::string& component) {
  return {binary, "--mlcore-task", component, "--executor-input", "{{$}}"};
}

Status RunTask(const Component& component, const std::string& executor_input) {
  if (!component.fn) {
    return absl::InvalidArgumentError(
        absl::StrCat("component '", component.name, "' is not a callable"));
  }
  const Json doc = Json::parse(executor_input, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("the executor input is not a JSON object");
  }
  TaskContext ctx;
  ctx.task_name = component.name;
  ctx.task_dir = std::filesystem::current_path().string();
  if (doc.contains("task_dir")) {
    MLCORE_RETURN_IF_ERROR(FillLocal(component, doc, ctx));
  } else {
    MLCORE_RETURN_IF_ERROR(FillInputs(component, doc.value("inputs", Json::object()), ctx));
    MLCORE_RETURN_IF_ERROR(FillOutputs(component, doc.value("outputs", Json::object()), ctx));
  }
  Status st;
  try {
    st = component.fn(ctx);
  } catch (const std::exception& e) {
    st = absl::InternalError(absl::StrCat("threw: ", e.what()));
  }
  MLCORE_RETURN_IF_ERROR(st);
  return WriteOutputs(component, ctx);
}

std::optional<int> RunTaskMain(int argc, char** argv, const Pipeline& pipeline) {
  std::string task, input;
  bool asked = false, has_input = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mlcore-task") == 0 && i + 1 < argc) {
      asked = true;
      task = argv[++i];
    } else if (std::strcmp(argv[i], "--executor-input") == 0 && i + 1 < argc) {
      has_input = true;
      input = argv[++i];
    }
  }
  if (!asked) return std::nullopt;
  // Handed over: a pipeline this task runs may start subprocess tasks of its own.
  ::unsetenv("MLCORE_TASK_PROCESS");
  if (!has_input) {
    std::cerr << "--mlcore-task " << task << ": --executor-input JSON is missing\n";
    return 2;
  }
  const Component* component = FindComponent(pipeline, task);
  if (component == nullptr) {
    std::cerr << "--mlcore-task " << task << ": pipeline '" << pipeline.name()
              << "' has no such component\n";
    return 2;
  }
  Status st = RunTask(*component, input);
  if (!st.ok()) {
    std::cerr << "task " << task << " failed: " << StatusText(st) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace mlcore::pipeline

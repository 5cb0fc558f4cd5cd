// Compiles a pipeline to the Kubeflow Pipelines v2 intermediate representation (PipelineSpec, as
// YAML), so the DAG a notebook ran locally runs unchanged on a cluster: one component and
// executor per task (container image + command with KFP placeholders), parameters and artifacts,
// dependencies, retries, caching, resources; ParallelFor loops and task groups (If/Elif/Else
// branches, exit handlers, pipelines used as components; Pipeline::BeginIf, ...) as sub-DAG
// components shaped as KFP's own compiler shapes them (docs/pipelines_compile.md).
#pragma once

#include <string>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline {

// The image `compile` names for components that name none: the repository's Containerfile
// builds it (`podman build -t mlcore:0.1.0 -f Containerfile .`); push it where the cluster
// pulls from and pass that name as base_image.
inline constexpr char kDefaultBaseImage[] = "mlcore:0.1.0";

struct CompileOptions {
  // The pipeline's default image: for every component whose `image` is empty.
  std::string base_image = kDefaultBaseImage;
  // Installed (pip) before every task's command, before the component's own packages.
  std::vector<std::string> packages_to_install;
  // Recorded as sdkVersion; Kubeflow shows it, nothing depends on it.
  std::string sdk_version = "mlcore-0.1.0";
  // Accelerator type requested for tasks with gpu > 0 (Kubernetes resource name).
  std::string accelerator_type = "nvidia.com/gpu";
  // C++ callables on Kubeflow: the program (its path inside `task_image`) whose main calls
  // RunTaskMain (task_main.h) with this pipeline. When set, a callable component without a
  // compile_command compiles to [task_binary, "--mlcore-task", <component name>,
  // "--executor-input", "{{$}}"] in the container `task_image` (empty: the component's image).
  std::string task_binary;
  std::string task_image;
};

// The PipelineSpec as JSON. FailedPrecondition naming the component when a callable component
// has no compile_command and options.task_binary is empty (nothing for a container to run), and
// naming the reading task when a
// task outside an If/Elif/Else branch or exit handler reads an output of a task inside it
// (Kubeflow passes no value out but through OneOf: InputBinding::OneOf compiles to the chain's
// condition-branches output, as KFP's dsl.OneOf does), and when a task collects a loop
// inside a branch, exit handler or pipeline used as a component that the task is outside of.
StatusOr<Json> CompileToKfp(const Pipeline& pipeline, const CompileOptions& options = {});
// The same, as YAML text.
StatusOr<std::string> CompileToKfpYaml(const Pipeline& pipeline,
                                       const CompileOptions& options = {});
// JSON as block-style YAML (strings double-quoted), the form Kubeflow's tools read.
std::string ToYaml(const Json& value);

}  // namespace mlcore::pipeline

// C++ pipelines on Kubeflow: the program that defines a pipeline of C++ callables is also the
// container command of each of its tasks. Compile with CompileOptions::task_binary (and
// task_image) and every callable compiles to
//   <task_binary> --mlcore-task <component> --executor-input '{{$}}'
// which the KFP launcher runs with the task's ExecutorInput; main hands that to RunTaskMain:
//
//   int main(int argc, char** argv) {
//     mlcore::StatusOr<mlcore::pipeline::Pipeline> p = BuildPipeline();
//     if (!p.ok()) return 1;
//     if (std::optional<int> code = mlcore::pipeline::RunTaskMain(argc, argv, *p)) return *code;
//     ...  // not a task: run or compile the pipeline as usual
//   }
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline {

// The command a callable component compiles to (before KFP's placeholders are substituted).
std::vector<std::string> TaskMainCommand(const std::string& binary, const std::string& component);

// Runs `component`'s callable once from Kubeflow's ExecutorInput JSON (what "{{$}}" expands to on
// a cluster): parameters from inputs.parameterValues (a float input given an integer gets a
// float), artifacts from their URIs (gs://, minio://, s3:// read as the launcher's /gcs/,
// /minio/, /s3/ mounts); output parameters go to their outputFile (strings as plain text,
// others as JSON), artifact metadata to "<artifact path>.metadata.json", as the Python runner
// writes them. The working directory is the task's directory. The local executor's own input
// (TaskContext::ExecutorInput: a CallableMode::kSubprocess task) is taken as well. InvalidArgument
// for JSON that is not an ExecutorInput or misses an input; the callable's error otherwise.
Status RunTask(const Component& component, const std::string& executor_input);

// nullopt unless argv holds "--mlcore-task NAME" (then main goes on as usual). Otherwise runs
// the component NAME of `pipeline` (any task's, at any depth) with RunTask on the JSON after
// "--executor-input", and returns the exit code: 0, or 1 after printing the error to stderr
// (2 for a missing argument or an unknown component).
std::optional<int> RunTaskMain(int argc, char** argv, const Pipeline& pipeline);

}  // namespace mlcore::pipeline

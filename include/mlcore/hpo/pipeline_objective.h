// A trial as a pipeline run: each trial runs an mlcore pipeline once, with the trial's parameters
// as pipeline arguments, and its value is a metric of that run (a numeric pipeline output, or a
// key of a Metrics artifact's metadata). This is Katib tuning a Kubeflow pipeline, in one
// process: every run is recorded with its lineage, and the trial keeps its run id.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/study.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::hpo {

struct PipelineObjectiveOptions {
  // The trial's value: the run's output of this name when it is a number; otherwise the value
  // under this key in the metadata of a Metrics artifact the run produced (the last one).
  std::string metric;
  // Arguments every run gets; the trial's parameters are laid over them (a parameter wins).
  pipeline::Json arguments = pipeline::Json::object();
  // Experiment, parallelism, slots and caching of each run (its arguments are replaced by the
  // above). The trial's GPUs, when it holds some, bound the run's GPU slots.
  pipeline::RunOptions run;
  // A run still going after this is failed (it keeps running in the background until its
  // tasks end). Infinite: no limit.
  absl::Duration timeout = absl::InfiniteDuration();
  // When set, checked every 100 ms while a run goes: once it is true the run is cancelled
  // (RunHandle::Cancel: commands killed, in-process callables interrupted), waited for, and the
  // trial fails "interrupted" (Ctrl-C in Python). Must outlive the objective. Null: none.
  const std::atomic<bool>* cancel_flag = nullptr;
};

// The user attr under which each trial records its run's id (a JSON string).
inline constexpr char kPipelineRunIdAttr[] = "pipeline_run_id";

// The objective for Study::Optimize. Before the run, every parameter of `space` is suggested
// (conditional ones only when active); parameters the trial already has (a declared study space)
// are passed too. A run that fails fails the trial with the run's error. `client` must outlive
// the objective. InvalidArgument for an empty metric or a parameter of `space` that is not a
// pipeline parameter (naming both).
StatusOr<Objective> MakePipelineObjective(pipeline::Client* client, pipeline::Pipeline pipeline,
                                          SearchSpace space, PipelineObjectiveOptions options);

// The trial value of a finished run: see PipelineObjectiveOptions::metric. NotFound naming the
// run, the metric and the outputs it has.
StatusOr<double> PipelineRunMetric(pipeline::Client& client, const pipeline::RunRecord& run,
                                   const std::string& metric);

}  // namespace mlcore::hpo

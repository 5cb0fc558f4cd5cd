// Internal: one attempt at running a task, and what it produced: a callable in this process
// (on a thread of its own when it has a timeout) or a command as a child process (the core
// subprocess runner), then its output parameters read and its output artifacts stored.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "mlcore/pipeline/pipeline.h"
#include "mlcore/store/artifact_store.h"
#include "pipeline/run_recorder.h"

namespace mlcore::pipeline::internal {

// Sets the context's output paths under ctx.task_dir for this attempt (clearing an earlier
// attempt's outputs).
void PrepareOutputs(const Component& comp, TaskContext& ctx);

// Runs the task's component once. `cancelled` stops a command (its process group is killed).
Status Attempt(const Task& task, TaskContext& ctx, const std::atomic<bool>* cancelled);

// Reads output parameters and stores output artifacts' files; records nothing.
StatusOr<Json> CollectOutputs(const Task& task, TaskContext& ctx, store::ArtifactStore& artifacts,
                              std::vector<Produced>* produced);

}  // namespace mlcore::pipeline::internal

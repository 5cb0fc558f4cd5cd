// RunDag, the DAG runner under the local executor: runs a DAG of nodes on worker threads, each
// node as soon as its upstream nodes are done, bounded by a concurrency limit and by CPU and GPU
// slots. It knows nothing of stores or components, so its own overhead can be measured (a few
// microseconds per node) and it can drive any DAG a C++ application has. (The cron Scheduler of
// recurring runs is another thing: pipeline/schedule.h.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::pipeline {

enum class NodeOutcome { kSucceeded, kFailed, kSkipped };

struct DagNode {
  std::vector<int32_t> upstream;  // indices of nodes that must finish first
  double cpu = 1.0;               // CPU slots held while running
  int gpu = 0;                    // GPU slots (devices) held while running
  // Runs even when an upstream node failed or was skipped (exit handlers).
  bool run_always = false;
  // Upstream nodes whose being skipped does not skip this one (their failure still does): the
  // branches of an If/Elif/Else chain that a OneOf input picks among, only one of which runs.
  std::vector<int32_t> skip_ok;
};

struct DagOptions {
  // Worker threads, the most nodes running at once. 0: one per hardware thread.
  int max_parallelism = 0;
  // CPU slots shared by running nodes. 0: max_parallelism. A node asking for more than all the
  // slots runs alone once everything else has left them free.
  double cpu_slots = 0;
  // GPU slots (devices). A node asking for more GPUs than exist is failed with a message.
  int gpu_slots = 0;
};

// Called on a worker thread for each node that may run, with the GPU slots (device indices) it
// holds while it runs; its outcome decides whether dependants run (kSucceeded) or are skipped.
// `on_skip` is called (on some worker) for each node skipped because an upstream node failed or was
// skipped, `on_unrunnable` for nodes whose resources can never be met.
struct DagCallbacks {
  std::function<NodeOutcome(int32_t node, const std::vector<int>& gpus)> run;
  std::function<void(int32_t node)> on_skip;
  std::function<void(int32_t node, const Status& why)> on_unrunnable;
};

struct DagStats {
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t skipped = 0;
};

// Runs every node of `nodes` once (or skips it) and returns when all are done. InvalidArgument
// for an upstream index out of range or a cycle (checked before anything runs).
StatusOr<DagStats> RunDag(const std::vector<DagNode>& nodes, const DagCallbacks& callbacks,
                          const DagOptions& options = {});

}  // namespace mlcore::pipeline

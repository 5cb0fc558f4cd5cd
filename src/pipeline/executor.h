// One run of a pipeline on the local executor. RunState drives it: it prepares the run's
// records, runs the DAG runner on a background thread and, per task, puts together the parts
// that each do one job: RunGraph (the pipeline's shape), RunResults (outcomes so far),
// InputResolver (inputs and conditions), the cache (task_cache.h), Attempt (running the
// component, task_attempt.h) and RunRecorder (every write to the store).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/dag.h"
#include "pipeline/input_resolver.h"
#include "pipeline/run_graph.h"
#include "pipeline/run_recorder.h"
#include "pipeline/run_results.h"

namespace mlcore::pipeline::internal {

class RunState : public RunHandle {
 public:
  RunState(Client* client, const Pipeline& pipeline, RunOptions options);
  ~RunState() override;

  // Writes the run's records (or reopens them on resume). Errors leave nothing running.
  Status Prepare();
  // Starts the background thread.
  void Launch();

  const std::string& id() const override { return run_id_; }
  StatusOr<RunRecord> Wait(absl::Duration timeout) override;
  bool done() const override { return done_.load(); }
  void Cancel() override;
  const Client* client() const { return client_; }

 private:
  // Prepare's parts (run_setup.cc). The pipeline, version and experiment rows; their ids.
  struct Registration {
    int64_t version_id = 0;
    int64_t experiment_id = 0;
  };
  StatusOr<Registration> Register(const std::string& spec, const std::string& digest, double now);
  // On resume: checks the run may be resumed, takes it over and reads what its tasks recorded.
  Status Reopen(const std::string& digest, bool reuse_arguments, double now);
  Status ReadPriorTasks();
  // A new run's row and its tasks' rows.
  Status Create(const Registration& reg, double now);

  void Execute();
  // Runs (or serves from the cache) `task`, whose outcome goes to results_ slot `slot`.
  // `digest` is its component's definition digest; `scope` is set for a loop iteration's task.
  NodeOutcome RunTask(const Task& task, int32_t slot, const std::string& digest,
                      const std::vector<int>& gpus, const Scope* scope);
  // Runs the task's component until it succeeds or its retries are spent, recording each try.
  NodeOutcome RunAttempts(const Task& task, int32_t slot, const std::string& cache_key,
                          const ResolvedInputs& inputs, TaskContext& ctx);
  // Expands loop `li` over its items (known now: its upstream tasks are done) and runs the
  // iterations as a nested DAG, at most `parallelism` at once, on the GPUs `gpus` the loop holds.
  // `parent` is the enclosing loop's iteration for a nested loop (null at the top level).
  NodeOutcome RunLoop(int32_t li, const std::vector<int>& gpus, const Scope* parent);
  // RunLoop's parts (loop.cc): a slot and a scope per iteration and member, and their rows.
  struct Expansion;
  StatusOr<Expansion> Expand(int32_t li, const Json& items, const Scope* parent,
                             const Task& loop_task, int32_t loop_slot);
  NodeOutcome RunIterations(int32_t li, const Expansion& x, const std::vector<int>& gpus,
                            const Task& loop_task, int32_t loop_slot);
  // Fails the task: its slot and its record (errors recording are logged).
  NodeOutcome Fail(const Task& task, int32_t slot, const std::string& message, int attempts,
                   const std::string& cache_key);
  // Sets the slot's outcome and records the task as finished in `state`.
  void MarkFinished(const Task& task, int32_t slot, const std::string& state,
                    const std::string& error);
  // The run's outcome from its tasks' (after the last task record was written).
  // The run's final record. A run whose DAG runner failed (`dag`: its tasks may never have
  // run) is failed, never succeeded.
  FinalRecord Outcome(const Status& dag);

  Client* client_;
  const Pipeline pipeline_;
  RunOptions options_;
  std::string run_id_;
  std::map<std::string, Json> arguments_;
  std::string runs_dir_;
  const RunGraph graph_;
  RunResults results_;
  RunRecorder recorder_;
  const InputResolver inputs_;
  std::vector<std::string> component_digests_;  // by task index
  std::atomic<bool> cancelled_{false};
  std::mutex running_mu_;  // the interrupters of in-process tasks running now, fired by Cancel
  std::vector<std::shared_ptr<Interrupter>> running_;

  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex done_mu_;
  Status final_error_;  // under done_mu_: why the final record is missing (Wait returns it)
  std::condition_variable done_cv_;
};

}  // namespace mlcore::pipeline::internal

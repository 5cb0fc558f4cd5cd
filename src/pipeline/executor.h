// One run of a pipeline on the local executor: prepares its records, drives the scheduler on a
// background thread, and per task resolves inputs, consults the cache, runs the component with
// retries and records outputs, artifacts and lineage.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/scheduler.h"

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
  const Client* client() const { return client_; }

 private:
  struct TaskResult {
    std::string state;
    Json outputs = Json::object();  // {"parameters": {...}, "artifacts": {...}}
  };

  void Execute();
  NodeOutcome RunTask(int32_t index, const std::vector<int>& gpus);
  // Resolves a binding to a parameter value or an artifact entry of an upstream task's outputs.
  StatusOr<Json> ResolveParameter(const Task& task, const InputBinding& b) const;
  StatusOr<Json> UpstreamArtifact(const InputBinding& b) const;
  StatusOr<bool> ConditionsHold(const Task& task) const;
  Status Attempt(const Task& task, TaskContext& ctx);
  StatusOr<Json> CollectOutputs(const Task& task, TaskContext& ctx,
                                const std::map<std::string, Json>& inputs_used);
  Status RecordTask(const Task& task, const std::string& state, int attempts,
                    const std::string& cache_key, const Json& outputs, const std::string& error,
                    bool finished);
  void FinishRun();

  Client* client_;
  Pipeline pipeline_;
  RunOptions options_;
  std::string run_id_;
  std::map<std::string, Json> arguments_;
  std::string runs_dir_;
  std::vector<TaskResult> results_;
  std::vector<std::string> component_digests_;  // by task index
  std::map<std::string, int32_t> index_;
  mutable std::mutex results_mu_;
  std::atomic<bool> cancelled_{false};

  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
};

}  // namespace mlcore::pipeline::internal

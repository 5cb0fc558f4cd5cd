// One run of a pipeline on the local executor: prepares its records, drives the scheduler on a
// background thread, and per task resolves inputs, consults the cache, runs the component with
// retries and records outputs, artifacts and lineage.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/scheduler.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/statement.h"

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
  // An output artifact stored by CollectOutputs, recorded with the task's success.
  struct Produced {
    std::string name;
    store::Artifact artifact;
    Json metadata;
    ValueType type;
  };

  void Execute();
  NodeOutcome RunTask(int32_t index, const std::vector<int>& gpus);
  // Resolves a binding to a parameter value or an artifact entry of an upstream task's outputs.
  StatusOr<Json> ResolveParameter(const Task& task, const InputBinding& b) const;
  StatusOr<Json> UpstreamArtifact(const InputBinding& b) const;
  StatusOr<bool> ConditionsHold(const Task& task) const;
  Status Attempt(const Task& task, TaskContext& ctx);
  // Reads output parameters and stores output artifacts' files; records nothing.
  StatusOr<Json> CollectOutputs(const Task& task, TaskContext& ctx,
                                std::vector<Produced>* produced);
  Status RecordTask(const Task& task, const std::string& state, int attempts,
                    const std::string& cache_key, const Json& outputs, const std::string& error,
                    bool finished);
  // One transaction for a task's success: its artifacts, their lineage, the task row and the
  // cache entry, so that a task recorded succeeded always has its outputs recorded too. Adds
  // the artifacts' entries to `outputs`.
  Status RecordSuccess(const Task& task, int attempts, const std::string& cache_key,
                       const std::vector<Produced>& produced,
                       const std::map<std::string, Json>& inputs_used, Json* outputs);
  // Runs `sql` (a string literal) with a statement prepared once per run: re-preparing was a
  // large part of a short task's cost. Statements are used under stmt_mu_, taken before the
  // store's own lock (Write), never after it.
  StatusOr<std::vector<store::Row>> Cached(std::string_view sql,
                                           const std::vector<store::Value>& params);
  // A store transaction holding stmt_mu_, so that Cached may be used inside it. Deferred task
  // records go first, in the same transaction.
  Status Write(const std::function<Status()>& fn);
  // Writes the deferred task records now (one transaction).
  Status FlushDeferred();
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
  // Finalized when the run ends: a statement must not outlive the client's store.
  std::recursive_mutex stmt_mu_;
  std::map<std::string_view, store::Statement> stmts_;
  // Cache-hit records: losing them in a crash costs only a repeat (resume looks the cache up
  // again), so they ride along with the next write instead of paying a commit each. An
  // in-process task's "running" record is not deferred: a crashed run's running tasks must be
  // found and marked interrupted. Under stmt_mu_.
  struct Deferred {
    std::string_view sql;
    std::vector<store::Value> params;
  };
  std::vector<Deferred> deferred_;

  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
};

}  // namespace mlcore::pipeline::internal

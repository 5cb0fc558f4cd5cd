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
#include "mlcore/pipeline/dag.h"
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
  // One slot per thing the run records: the pipeline's tasks (by index), then its loops, then
  // the tasks of loop iterations as they are expanded. Read and written under results_mu_.
  struct TaskResult {
    std::string name;
    std::string state;
    Json outputs = Json::object();  // {"parameters": {...}, "artifacts": {...}}
    std::string error;
  };
  // Where a task of a loop iteration resolves its bindings: the iteration's item, and the
  // slots of the same iteration's tasks and nested loops (the body's names map to `task[i]`).
  // A nested loop's iteration has the enclosing iteration as parent: names and items not found
  // here are looked up there (`task[i][j]` reads `task[i]` and the outer item).
  struct Scope {
    int32_t loop = -1;
    int64_t iteration = 0;
    Json item;
    std::map<std::string, int32_t, std::less<>> local;
    const Scope* parent = nullptr;
    std::string suffix;  // "[i]", "[i][j]", ...: appended to the body's names
  };
  // The things that run side by side at one level (the pipeline's top or one iteration of a
  // loop): tasks (by index) and the loops nested directly in it (by loop index), with the
  // edges among them.
  struct Level {
    std::vector<int32_t> tasks;
    std::vector<int32_t> loops;
    std::vector<DagNode> nodes;        // tasks first, then loops
    std::vector<int32_t> task_member;  // by task index: its node here, -1 for none
    std::vector<int32_t> loop_member;  // by loop index: its node here, -1 for none
  };
  // An output artifact stored by CollectOutputs, recorded with the task's success.
  struct Produced {
    std::string name;
    store::Artifact artifact;
    Json metadata;
    ValueType type;
  };

  void Execute();
  // Runs (or serves from the cache) `task`, whose outcome goes to results_[slot]. `digest` is
  // its component's definition digest; `scope` is set for a loop iteration's task.
  NodeOutcome RunTask(const Task& task, int32_t slot, const std::string& digest,
                      const std::vector<int>& gpus, const Scope* scope);
  // Expands loop `li` over its items (known now: its upstream tasks are done) and runs the
  // iterations as a nested DAG, at most `parallelism` at once, on the GPUs `gpus` the loop holds.
  // `parent` is the enclosing loop's iteration for a nested loop (null at the top level).
  NodeOutcome RunLoop(int32_t li, const std::vector<int>& gpus, const Scope* parent);
  // The members of level `loop` (-1: the top) and their edges.
  Level BuildLevel(int32_t loop) const;
  // Which member of level `loop` holds task `task`: its index in Level order, or -1 when the
  // task is outside that level (already done before the level runs).
  int32_t MemberOf(const Level& level, int32_t loop, int32_t task) const;
  // Gather's value (under results_mu_): per iteration of the loops between the consumer's
  // scope and the producer, the producer's output (parameter or artifact entry), nested one
  // list per loop level.
  Json GatherLocked(const InputBinding& b, const Scope* scope) const;
  // A list input's artifacts from Gather's JSON entries, each checked against its digest; adds
  // each to `used` (lineage, keyed "name[i]...") and its digest to `digests` (the cache key).
  StatusOr<ArtifactList> ResolveArtifactList(const Task& task, const IoSpec& in,
                                             const Json& entries, const std::string& key,
                                             std::map<std::string, Json>* used, Json* digests);
  void MarkFinished(const Task& task, int32_t slot, const std::string& state,
                    const std::string& error);
  // Resolves a binding to a parameter value or an artifact entry of an upstream task's outputs.
  StatusOr<Json> ResolveParameter(const Task& task, const InputBinding& b,
                                  const Scope* scope) const;
  StatusOr<Json> UpstreamArtifact(const InputBinding& b, const Scope* scope) const;
  // The item of OneOf binding `b` whose task ran (succeeded or cached). When none did:
  // Cancelled if every item was skipped because something upstream failed or was skipped (the
  // reader is skipped too), FailedPrecondition otherwise (the branch that ran gave no item).
  StatusOr<InputBinding> PickBranch(const Task& task, const InputBinding& b,
                                    const Scope* scope) const;
  StatusOr<bool> ConditionsHold(const Task& task, const Scope* scope) const;
  // The outputs of the slot an upstream task name refers to (under results_mu_).
  const Json& UpstreamOutputsLocked(const std::string& task, const Scope* scope) const;
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
  // Writes the run's final record; when the store refuses it, keeps it for a later write (see
  // FinalRecord) and returns the error its waiters get.
  Status FinishRun();

  Client* client_;
  Pipeline pipeline_;
  RunOptions options_;
  std::string run_id_;
  std::map<std::string, Json> arguments_;
  std::string runs_dir_;
  std::vector<TaskResult> results_;
  std::vector<std::string> component_digests_;  // by task index
  std::map<std::string, int32_t> index_;        // tasks and loops by name -> slot
  // Each expansion of a loop: (loop index, enclosing iteration or null) -> its iterations, in
  // item order (under results_mu_). Scopes are never moved: tasks hold pointers to them.
  std::map<std::pair<int32_t, const Scope*>, std::vector<std::unique_ptr<Scope>>> expansions_;
  std::vector<int32_t> task_loop_;    // by task index: its loop's index, -1 for none
  std::vector<int32_t> loop_parent_;  // by loop index: the enclosing loop's index, -1 for none
  // On resume: what the interrupted run recorded for loop rows and iteration tasks, which exist
  // only once their loop is expanded again.
  std::map<std::string, TaskResult> prior_;
  mutable std::mutex results_mu_;
  std::atomic<bool> cancelled_{false};
  // Finalized when the run ends: a statement must not outlive the client's store.
  std::recursive_mutex stmt_mu_;
  std::map<std::string_view, store::Statement> stmts_;

 public:
  // A record write queued for the next batch (see Defer).
  struct Deferred {
    std::string_view sql;
    std::vector<store::Value> params;
  };

 private:
  // Group commit: records whose loss in a crash costs only a repeat (a cache hit; an in-process
  // task's start; the success of a task without artifacts, which resume or the cache runs
  // again) are queued and written by a flusher thread in one transaction per batch, every
  // kFlushInterval or sooner when many wait, instead of a commit each. Any other write takes
  // the queue first, in the same transaction, so records keep their order.
  void Defer(Deferred record);
  void FlusherLoop();
  std::mutex deferred_mu_;
  std::condition_variable deferred_cv_;
  std::vector<Deferred> deferred_;  // under deferred_mu_
  bool stop_flusher_ = false;       // under deferred_mu_
  std::thread flusher_;
  // Whether the store refused a write of this run's records (FinishRun then writes every task's
  // outcome with the run's).
  std::atomic<bool> records_refused_{false};

  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex done_mu_;
  Status final_error_;  // under done_mu_: why the final record is missing (Wait returns it)
  std::condition_variable done_cv_;
};

}  // namespace mlcore::pipeline::internal

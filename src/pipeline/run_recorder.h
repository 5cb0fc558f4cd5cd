// Internal: how a running pipeline writes its records: task rows as tasks start and end, a
// success's artifacts, lineage and cache entry in one transaction, and the run's final record
// (kept for a later write when the store refuses it). Cheap records are group-committed.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/pipeline/pipeline.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/statement.h"
#include "pipeline/final_record.h"

namespace mlcore::pipeline::internal {

// An output artifact stored by a task, recorded with the task's success.
struct Produced {
  std::string name;
  store::Artifact artifact;
  Json metadata;
  ValueType type;
  bool directory = false;  // `artifact` is a directory's manifest (ArtifactStore::PutDirectory)
};

// A record write queued for the next batch (see RunRecorder::Defer).
struct DeferredRecord {
  std::string_view sql;
  std::vector<store::Value> params;
};

class RunRecorder {
 public:
  // `unrecorded` receives the final record when the store refuses it (the client retries it).
  // The flusher also stamps the run's heartbeat every `heartbeat_interval` (run_heartbeat.h).
  RunRecorder(store::SqlDatabase& db, std::string home, UnrecordedRuns* unrecorded,
              absl::Duration heartbeat_interval)
      : db_(db),
        home_(std::move(home)),
        unrecorded_(unrecorded),
        heartbeat_interval_(heartbeat_interval) {}
  ~RunRecorder();

  // Starts the flusher for run `run_id`, whose tasks' logs lie under `runs_dir`/<task>.
  void Start(std::string run_id, std::string runs_dir);
  // Stops the flusher and writes what it held back (errors are logged).
  void Stop();

  // A task's row: running (`finished` false, with its log paths) or ended in `state`.
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
  // Writes the run's final record; when the store refuses it, keeps it for a later write (see
  // FinalRecord) and returns the error its waiters get. Releases the prepared statements.
  Status Finish(const FinalRecord& final);
  // Whether the store refused a write of this run's records (the final record then carries
  // every task's outcome).
  bool records_refused() const { return records_refused_.load(); }
  store::SqlDatabase& db() { return db_; }

 private:
  // Group commit: records whose loss in a crash costs only a repeat (a cache hit; an in-process
  // task's start; the success of a task without artifacts, which resume or the cache runs
  // again) are queued and written by a flusher thread in one transaction per batch, every
  // kFlushInterval or sooner when many wait, instead of a commit each. Any other write takes
  // the queue first, in the same transaction, so records keep their order.
  void Defer(DeferredRecord record);
  void FlusherLoop();
  // Writes the deferred task records now (one transaction).
  Status FlushDeferred();
  // Stamps the run's heartbeat_at with the store's clock, unless another process has taken the
  // run over (its owner is no longer this process).
  Status Beat();

  store::SqlDatabase& db_;
  const std::string home_;
  UnrecordedRuns* unrecorded_;
  const absl::Duration heartbeat_interval_;
  std::string beat_sql_;  // set by Start: the UPDATE with the store's clock for its dialect
  std::string run_id_;
  std::string runs_dir_;
  // Finalized when the run ends: a statement must not outlive the client's store.
  std::recursive_mutex stmt_mu_;
  std::map<std::string_view, store::Statement> stmts_;
  std::mutex deferred_mu_;
  std::condition_variable deferred_cv_;
  std::vector<DeferredRecord> deferred_;  // under deferred_mu_
  bool stop_flusher_ = false;             // under deferred_mu_
  std::thread flusher_;
  std::atomic<bool> records_refused_{false};
};

}  // namespace mlcore::pipeline::internal

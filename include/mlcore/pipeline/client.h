// The local executor and the records of what it ran, in one object a program owns (as a
// kfp.Client is to Kubeflow Pipelines): Start runs a pipeline on the dependency-driven scheduler
// with caching, retries and timeouts, and files pipelines, versions, experiments, runs, tasks,
// artifacts and lineage in the store ($MLCORE_HOME), so they can be queried, and failed or
// interrupted runs resumed, from any later process.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/pipeline/component.h"
#include "mlcore/pipeline/pipeline.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::pipeline {

// Task states: pending, running, succeeded, failed, skipped, cached (served from the cache);
// a task left running by a killed process becomes interrupted. Run states: pending, running,
// succeeded, failed, interrupted.
namespace state {
inline constexpr char kPending[] = "pending";
inline constexpr char kRunning[] = "running";
inline constexpr char kSucceeded[] = "succeeded";
inline constexpr char kFailed[] = "failed";
inline constexpr char kSkipped[] = "skipped";
inline constexpr char kCached[] = "cached";
inline constexpr char kInterrupted[] = "interrupted";
}  // namespace state

struct ClientOptions {
  // The store's directory. Empty: $MLCORE_HOME (see store::DefaultHome). The database is
  // <home>/mlcore.db, artifacts <home>/artifacts, task logs and scratch <home>/pipeline/runs.
  // A postgresql:// URL: the records go to that database and the files to $MLCORE_HOME. The
  // MLCORE_STORE environment variable (a URL or a SQLite file) overrides where the records go
  // (store::StoreLocation).
  std::string home;
  // Every pipeline, experiment and run is filed under this label; queries see only their own.
  std::string ns = "default";
  // fsync artifacts (see store::ArtifactStoreOptions::sync). false is faster for tests.
  bool sync_artifacts = true;
  // How long a store call waits for another connection's lock before it fails (see
  // store::MetadataStoreOptions::busy_timeout). Shorter ends a run whose records cannot be
  // written sooner; longer rides out longer writes by other processes.
  absl::Duration busy_timeout = absl::Seconds(30);
  // Where artifacts are also kept (store::ArtifactStoreOptions::remote): "s3://bucket/prefix"
  // publishes every output there and reads inputs back from there, checked. Empty:
  // $MLCORE_ARTIFACTS; "none": local only.
  std::string artifacts;
  // Run heartbeats: a running pipeline's driver stamps its run with the store's clock every
  // `run_heartbeat_interval`. RecoverInterrupted and a resume take a run whose driver is on
  // another machine (whose processes cannot be checked from here) for dead once its stamp is
  // older than `run_heartbeat_timeout`, and mark it interrupted (resumable); on this machine
  // the process table decides, at once. Keep the timeout several beats long: a driver whose
  // store writes stall for longer (a lock held long, a server restart) loses its run to the
  // first client that looks.
  absl::Duration run_heartbeat_interval = absl::Seconds(5);
  absl::Duration run_heartbeat_timeout = absl::Seconds(30);
};

struct RunOptions {
  std::string experiment = "Default";
  Json arguments = Json::object();
  // Worker threads (most tasks at once); 0: one per hardware thread.
  int max_parallelism = 0;
  // CPU slots; 0: max_parallelism. GPU slots; -1: the number of CUDA devices.
  double cpu_slots = 0;
  int gpu_slots = -1;
  // false: nothing is read from or written to the cache.
  bool enable_caching = true;
  // Resume this failed or interrupted run (same id): tasks that succeeded or were cached keep
  // their outputs and do not run again. The pipeline must have the same digest.
  std::string resume_run_id;
};

struct TaskRecord {
  std::string run_id;
  std::string name;
  std::string component;
  std::string state;
  int attempts = 0;
  std::string cache_key;
  Json outputs = Json::object();  // output parameters and artifacts (digest, uri, metadata)
  std::string error;
  std::string stdout_path;
  std::string stderr_path;
  // The task's stdout (or stderr) log as text; empty when it wrote none (Python's Task.logs).
  std::string Logs(bool stderr_log = false) const;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;
};

struct RunRecord {
  std::string id;
  std::string ns;
  std::string pipeline;
  std::string pipeline_digest;
  std::string experiment;
  std::string state;
  Json arguments = Json::object();
  Json outputs = Json::object();
  std::string error;
  absl::Time created_at;
  std::optional<absl::Time> finished_at;
};

struct ArtifactRecord {
  int64_t id = 0;
  std::string run_id;
  std::string task;    // the producer task
  std::string output;  // the producer's output name
  std::string type;    // "Dataset", "Model", ...
  std::string digest;
  std::string uri;
  Json metadata = Json::object();
};

struct Consumer {
  std::string run_id;
  std::string task;
  std::string input;
};

struct RunFilter {
  std::string experiment;  // empty: any
  std::string pipeline;    // empty: any
  std::string state;       // empty: any; else a run state (InvalidArgument for another word)
  int limit = 1000;
  bool newest_first = false;  // false: oldest first (creation order)
};

class Client;
namespace internal {
class RunState;
struct UnrecordedRuns;
}  // namespace internal

// A run in progress (or finished) started by this Client.
class RunHandle {
 public:
  virtual ~RunHandle() = default;
  virtual const std::string& id() const = 0;
  // Waits until the run finishes; DeadlineExceeded when `timeout` passes first. Unavailable when
  // the run ended but the store refused its final record (disk full, read-only file, a lock
  // held past the busy timeout): the message names the run, its outcome and the store's error.
  // The record is then written later (see Client::RecoverInterrupted).
  virtual StatusOr<RunRecord> Wait(absl::Duration timeout = absl::InfiniteDuration()) = 0;
  virtual bool done() const = 0;
  // Stops the run early (Ctrl-C in run.wait()): tasks not yet started fail as cancelled,
  // commands are killed, in-process callables that can be interrupted are; the run then ends
  // failed. Returns at once; Wait for the end.
  virtual void Cancel() = 0;
};

class Client {
 public:
  // Opens (creating) the store and applies the pipeline module's migrations. Runs left
  // "running" by a process that no longer exists (kill -9, power loss) are marked interrupted.
  static StatusOr<std::unique_ptr<Client>> Open(const ClientOptions& options = {});
  // Waits for this client's runs still in flight (see HasRunsInFlight).
  ~Client();

  // Records the run and starts it on background threads. Errors before anything runs:
  // InvalidArgument for bad arguments, NotFound/FailedPrecondition for a bad resume.
  StatusOr<std::shared_ptr<RunHandle>> Start(const Pipeline& pipeline, const RunOptions& options);
  // Start + Wait.
  StatusOr<RunRecord> Run(const Pipeline& pipeline, const RunOptions& options);

  StatusOr<RunRecord> GetRun(std::string_view run_id);
  // The spec (Pipeline::ToJson text) of the pipeline version the run ran: what
  // DagGraphFromSpec (pipeline/drawing.h) draws for a past run.
  StatusOr<std::string> GetRunSpec(std::string_view run_id);
  // The full id of the run of this namespace whose id is or starts with `id_or_prefix` (as git
  // takes unique prefixes of commit ids). NotFound when none matches, InvalidArgument naming
  // the candidates when several do.
  StatusOr<std::string> ResolveRunId(std::string_view id_or_prefix);
  StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter = {});
  StatusOr<std::vector<TaskRecord>> ListTasks(std::string_view run_id);
  StatusOr<std::vector<ArtifactRecord>> ListArtifacts(std::string_view run_id);
  StatusOr<ArtifactRecord> GetArtifact(int64_t artifact_id);
  StatusOr<std::vector<Consumer>> ArtifactConsumers(int64_t artifact_id);
  // Writes the final records of this client's runs that the store refused when they ended,
  // then marks runs of dead owners interrupted (gone from this host's process table, or on
  // another host with a heartbeat older than ClientOptions::run_heartbeat_timeout), or records the
  // outcome such a run left in <home>/pipeline/runs/<id>/outcome.json when its final record could
  // not be written (its error then says it was recorded late). Open and every Scheduler tick call
  // it; ~Client tries the refused records once more. Returns how many runs of dead owners it ended.
  StatusOr<int> RecoverInterrupted();
  // Whether a run this client started has not finished (what ~Client would wait for).
  bool HasRunsInFlight() const;

  store::SqlDatabase& metadata() { return *metadata_; }
  store::ArtifactStore& artifacts() { return *artifacts_; }
  const ClientOptions& options() const { return options_; }
  const std::string& home() const { return home_; }

 private:
  friend class internal::RunState;
  Client(ClientOptions options, std::string home, std::shared_ptr<store::SqlDatabase> metadata,
         std::unique_ptr<store::ArtifactStore> artifacts);
  // Writes the refused final records still held; error if any is still refused.
  Status WriteUnrecorded();

  ClientOptions options_;
  std::string home_;
  std::shared_ptr<store::SqlDatabase> metadata_;
  std::unique_ptr<store::ArtifactStore> artifacts_;
  std::unique_ptr<internal::UnrecordedRuns> unrecorded_;
};

// The pipeline module's schema migrations (tables prefixed pipeline_).
const std::vector<store::Migration>& PipelineMigrations();
// The same tables on PostgreSQL.
const std::vector<store::Migration>& PostgresPipelineMigrations();

}  // namespace mlcore::pipeline

#include "pipeline/run_recorder.h"

#include <unordered_map>
#include <variant>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/records.h"
#include "pipeline/run_heartbeat.h"

namespace mlcore::pipeline::internal {

RunRecorder::~RunRecorder() {
  if (flusher_.joinable()) flusher_.join();
}

void RunRecorder::Start(std::string run_id, std::string runs_dir) {
  run_id_ = std::move(run_id);
  runs_dir_ = std::move(runs_dir);
  beat_sql_ = absl::StrCat("UPDATE pipeline_runs SET heartbeat_at = ", StoreNowSql(db_.dialect()),
                           " WHERE id = ?1 AND owner_pid = ?2 AND owner_start = ?3");
  flusher_ = std::thread([this] { FlusherLoop(); });
}

void RunRecorder::Stop() {
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    stop_flusher_ = true;
  }
  deferred_cv_.notify_all();
  flusher_.join();
  Status flushed = FlushDeferred();
  if (!flushed.ok()) {
    MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << flushed;
  }
}

StatusOr<std::vector<store::Row>> RunRecorder::Cached(std::string_view sql,
                                                      const std::vector<store::Value>& params) {
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  // PostgreSQL's connections keep their statements prepared by SQL text already.
  auto* sqlite = dynamic_cast<store::MetadataStore*>(&db_);
  if (sqlite == nullptr) return db_.Query(sql, params);
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    MLCORE_ASSIGN_OR_RETURN(store::Statement prepared, sqlite->Prepare(sql));
    it = stmts_.emplace(sql, std::move(prepared)).first;
  }
  return it->second.Run(params);
}

namespace {
constexpr char kRecordRunning[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = ?4, cache_key = ?5, stdout_path = ?6, "
    "stderr_path = ?7, error = '', started_at = COALESCE(started_at, ?8) WHERE run_id = ?1 AND "
    "name = ?2";
constexpr char kRecordFinished[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = CASE WHEN attempts > ?4 THEN attempts ELSE "
    "?4 END, cache_key = ?5, "
    "outputs = ?6, error = ?7, finished_at = ?8 WHERE run_id = ?1 AND name = ?2";
constexpr char kRecordSucceeded[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = CASE WHEN attempts > ?4 THEN attempts ELSE "
    "?4 END, cache_key = ?5, "
    "outputs = ?6, error = '', finished_at = ?7 WHERE run_id = ?1 AND name = ?2";
// A start and a success of the same task in one batch (the common case for in-process tasks),
// written as one statement.
constexpr char kRecordRanAndSucceeded[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = CASE WHEN attempts > ?4 THEN attempts ELSE "
    "?4 END, cache_key = ?5, "
    "outputs = ?6, error = '', finished_at = ?7, stdout_path = ?8, stderr_path = ?9, "
    "started_at = COALESCE(started_at, ?10) WHERE run_id = ?1 AND name = ?2";
constexpr char kRecordCache[] =
    "INSERT INTO pipeline_cache(key, component, outputs, run_id, task, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET component = "
    "excluded.component, outputs = excluded.outputs, run_id = excluded.run_id, task = "
    "excluded.task, created_at = excluded.created_at";
// How stale the records of a busy run may look, and the queue lengths that wake the flusher
// early and that make a recording thread write itself (bounding memory and what a crash loses).
constexpr auto kFlushInterval = std::chrono::milliseconds(10);
constexpr size_t kWakeFlusher = 256;
constexpr size_t kMaxDeferred = 8192;
}  // namespace

namespace {

// Merges each task's start record into its success record when both are in `batch`, leaving
// the start's sql empty (skipped).
void MergeStarts(std::vector<DeferredRecord>& batch) {
  std::unordered_map<std::string_view, size_t> started;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& d = batch[i];
    if (d.sql.data() != kRecordRunning && d.sql.data() != kRecordSucceeded) continue;
    const auto* name = std::get_if<std::string>(&d.params[1]);
    if (name == nullptr) continue;
    if (d.sql.data() == kRecordRunning) {
      started[*name] = i;
      continue;
    }
    auto it = started.find(*name);
    if (it == started.end()) continue;
    auto& start = batch[it->second];
    started.erase(it);
    d.sql = kRecordRanAndSucceeded;
    d.params.push_back(std::move(start.params[5]));
    d.params.push_back(std::move(start.params[6]));
    d.params.push_back(std::move(start.params[7]));
    start.sql = {};
  }
}

}  // namespace

Status RunRecorder::Write(const std::function<Status()>& fn) {
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  std::vector<DeferredRecord> taken;
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    taken.swap(deferred_);
  }
  MergeStarts(taken);
  Status status = db_.Transaction([&]() -> Status {
    for (const DeferredRecord& d : taken) {
      if (!d.sql.empty()) MLCORE_RETURN_IF_ERROR(Cached(d.sql, d.params).status());
    }
    return fn();
  });
  if (!status.ok()) records_refused_ = true;
  if (!status.ok() && !taken.empty()) {
    // Kept, ahead of anything queued since, for the next write.
    std::lock_guard<std::mutex> dl(deferred_mu_);
    taken.insert(taken.end(), std::make_move_iterator(deferred_.begin()),
                 std::make_move_iterator(deferred_.end()));
    deferred_.swap(taken);
  }
  return status;
}

Status RunRecorder::FlushDeferred() {
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    if (deferred_.empty()) return absl::OkStatus();
  }
  return Write([] { return absl::OkStatus(); });
}

void RunRecorder::Defer(DeferredRecord record) {
  size_t queued;
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    deferred_.push_back(std::move(record));
    queued = deferred_.size();
  }
  if (queued == kWakeFlusher) deferred_cv_.notify_one();
  if (queued >= kMaxDeferred) {
    if (Status st = FlushDeferred(); !st.ok()) {
      MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << StatusText(st);
    }
  }
}

Status RunRecorder::Beat() {
  const ProcessIdentity me = ThisProcess();
  // Not in Write's transaction: a heartbeat the store refuses is retried at the next beat and
  // must not count as a refused record of the run.
  return Cached(beat_sql_, {run_id_, me.pid, me.start}).status();
}

void RunRecorder::FlusherLoop() {
  std::unique_lock<std::mutex> dl(deferred_mu_);
  // The run's first stamp came with its running record (run_setup.cc).
  absl::Time next_beat = absl::Now() + heartbeat_interval_;
  while (!stop_flusher_) {
    deferred_cv_.wait_for(dl, kFlushInterval);
    const bool beat = absl::Now() >= next_beat;
    if (deferred_.empty() && !beat) continue;
    dl.unlock();
    if (Status st = FlushDeferred(); !st.ok()) {
      MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << StatusText(st);
    }
    if (beat) {
      next_beat = absl::Now() + heartbeat_interval_;
      if (Status st = Beat(); !st.ok()) {
        MLCORE_LOG(Warning) << "heartbeat of run " << run_id_ << ": " << StatusText(st);
      }
    }
    dl.lock();
  }
}

Status RunRecorder::RecordTask(const Task& task, const std::string& st, int attempts,
                               const std::string& cache_key, const Json& outputs,
                               const std::string& error, bool finished) {
  const double now = ToSeconds(absl::Now());
  DeferredRecord record;
  if (!finished) {
    const std::string dir = runs_dir_ + "/" + task.name;
    record = {kRecordRunning,
              {run_id_, task.name, st, int64_t{attempts}, cache_key, dir + "/stdout.log",
               dir + "/stderr.log", now}};
  } else {
    record = {kRecordFinished,
              {run_id_, task.name, st, int64_t{attempts}, cache_key, outputs.dump(), error, now}};
  }
  // An in-process task's start is not worth a commit of its own: a crash takes the task with
  // the process, and the run is found interrupted either way. A command's start is written at
  // once.
  const bool deferrable = st == state::kCached || (st == state::kRunning && task.component &&
                                                   static_cast<bool>(task.component->fn));
  if (deferrable) {
    Defer(std::move(record));
    return absl::OkStatus();
  }
  return Write([&] { return Cached(record.sql, record.params).status(); });
}

Status RunRecorder::RecordSuccess(const Task& task, int attempts, const std::string& cache_key,
                                  const std::vector<Produced>& produced,
                                  const std::map<std::string, Json>& inputs_used, Json* outputs) {
  store::SqlDatabase& db = db_;
  const double now = ToSeconds(absl::Now());
  if (produced.empty() && inputs_used.empty()) {
    // No artifacts, no lineage: the task row (with its outputs) and the cache entry go in the
    // next batch. Lost in a crash, the task runs again on resume.
    const std::string dumped = outputs->dump();
    Defer({kRecordSucceeded,
           {run_id_, task.name, std::string(state::kSucceeded), int64_t{attempts}, cache_key,
            dumped, now}});
    if (!cache_key.empty()) {
      Defer({kRecordCache, {cache_key, task.component->name, dumped, run_id_, task.name, now}});
    }
    return absl::OkStatus();
  }
  return Write([&]() -> Status {
    for (const Produced& p : produced) {
      MLCORE_RETURN_IF_ERROR(store::RecordArtifact(
          db, p.artifact, p.directory ? store::kDirectoryMediaType : "application/octet-stream"));
      MLCORE_ASSIGN_OR_RETURN(
          auto inserted,
          Cached("INSERT INTO pipeline_artifacts(run_id, task, output, type, sha256, uri, "
                 "metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                 {run_id_, task.name, p.name, std::string(ValueTypeName(p.type)), p.artifact.digest,
                  p.artifact.uri(), p.metadata.dump(), now}));
      (*outputs)["artifacts"][p.name] = {{"id", ValueInt(inserted.at(0).at(0))},
                                         {"digest", p.artifact.digest},
                                         {"type", ValueTypeName(p.type)},
                                         {"uri", p.artifact.uri()},
                                         {"metadata", p.metadata}};
      if (p.directory) (*outputs)["artifacts"][p.name]["directory"] = true;
    }
    for (const auto& [input, art] : inputs_used) {
      MLCORE_RETURN_IF_ERROR(
          Cached("INSERT INTO pipeline_lineage(artifact_id, run_id, task, input) "
                 "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                 {art.value("id", int64_t{0}), run_id_, task.name, input})
              .status());
    }
    const std::string dumped = outputs->dump();
    MLCORE_RETURN_IF_ERROR(
        Cached(kRecordSucceeded, {run_id_, task.name, std::string(state::kSucceeded),
                                  int64_t{attempts}, cache_key, dumped, now})
            .status());
    if (!cache_key.empty()) {
      MLCORE_RETURN_IF_ERROR(
          Cached(kRecordCache, {cache_key, task.component->name, dumped, run_id_, task.name, now})
              .status());
    }
    return absl::OkStatus();
  });
}

Status RunRecorder::Finish(const FinalRecord& final) {
  Status st = WriteFinalRecord(db_, final, "");
  {
    std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
    stmts_.clear();
  }
  if (st.ok()) return absl::OkStatus();
  // The run still ends. Its outcome is kept twice: in memory, for this client to write at its
  // next RecoverInterrupted, and in a file, for whichever process recovers the run after this
  // one is gone.
  const std::string path = OutcomePath(home_, run_id_);
  Status saved = SaveOutcome(path, final);
  {
    std::lock_guard<std::mutex> lock(unrecorded_->mu);
    unrecorded_->runs.push_back(final);
  }
  std::string outcome = final.state;
  if (!final.error.empty()) absl::StrAppend(&outcome, " (", final.error, ")");
  Status why = absl::UnavailableError(absl::StrCat(
      "run '", run_id_, "' ended ", outcome,
      ", but the store refused its final record: ", st.message(),
      ". It stays recorded as running until this process writes the record (at its "
      "next Client::RecoverInterrupted: every scheduler tick, and when the client closes)",
      saved.ok()
          ? absl::StrCat(" or, once this process has ended, the next one to open the store "
                         "records it from ",
                         path)
          : absl::StrCat("; keeping it in a file failed too (", saved.message(),
                         "), so once this process has ended the run is marked interrupted")));
  MLCORE_LOG(Error) << why;
  return why;
}

}  // namespace mlcore::pipeline::internal

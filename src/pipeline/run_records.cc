// The records side of a run: creating (or reopening, on resume) the run and its task rows,
// and writing each task's and the run's outcome. Kept apart from the execution logic in
// executor.cc, which calls these.
#include <map>
#include <set>
#include <unordered_map>
#include <variant>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "pipeline/executor.h"
#include "pipeline/final_record.h"
#include "pipeline/records.h"

namespace mlcore::pipeline::internal {

Status RunState::Prepare() {
  // A resume without arguments reuses the run's own, read below.
  const bool reuse_arguments = !options_.resume_run_id.empty() &&
                               (options_.arguments.is_null() || options_.arguments.empty());
  if (!reuse_arguments) {
    MLCORE_ASSIGN_OR_RETURN(arguments_, pipeline_.ResolveArguments(options_.arguments));
  }
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  results_.resize(tasks.size() + loops.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    index_[tasks[i].name] = static_cast<int32_t>(i);
    results_[i].name = tasks[i].name;
    results_[i].state = state::kPending;
  }
  for (size_t li = 0; li < loops.size(); ++li) {
    const size_t slot = tasks.size() + li;
    index_[loops[li].name] = static_cast<int32_t>(slot);
    results_[slot].name = loops[li].name;
    results_[slot].state = state::kPending;
  }
  task_loop_.assign(tasks.size(), -1);
  loop_parent_.assign(loops.size(), -1);
  for (size_t li = 0; li < loops.size(); ++li) {
    if (!loops[li].parent.empty()) {
      loop_parent_[li] = index_.at(loops[li].parent) - static_cast<int32_t>(tasks.size());
    }
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].options.loop.empty()) {
      task_loop_[i] = index_.at(tasks[i].options.loop) - static_cast<int32_t>(tasks.size());
    }
  }
  store::MetadataStore& db = client_->metadata();
  const std::string& ns = client_->options().ns;
  // The spec is the version's identity: one serialization gives both it and its digest.
  const std::string spec = pipeline_.ToJson().dump();
  const std::string digest = store::Sha256Hex(spec).value_or("");
  // One digest per distinct component, reused by every task's cache key.
  std::map<const Component*, std::string> by_component;
  for (const Task& t : tasks) {
    auto [it, fresh] = by_component.try_emplace(t.component.get());
    if (fresh) it->second = t.component->DefinitionDigest();
    component_digests_.push_back(it->second);
  }
  const double now = ToSeconds(absl::Now());
  const ProcessIdentity me = ThisProcess();
  Json args_json = Json::object();
  for (const auto& [k, v] : arguments_) args_json[k] = v;

  return db.Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(
        db.Query("INSERT OR IGNORE INTO pipeline_pipelines(namespace, name, created_at) "
                 "VALUES (?1, ?2, ?3)",
                 {ns, pipeline_.name(), now})
            .status());
    MLCORE_ASSIGN_OR_RETURN(auto prow,
                            db.Query("SELECT id FROM pipeline_pipelines WHERE namespace = ?1 AND "
                                     "name = ?2",
                                     {ns, pipeline_.name()}));
    int64_t pipeline_id = ValueInt(prow.at(0).at(0));
    MLCORE_RETURN_IF_ERROR(
        db.Query("INSERT OR IGNORE INTO pipeline_versions(pipeline_id, digest, spec, created_at) "
                 "VALUES (?1, ?2, ?3, ?4)",
                 {pipeline_id, digest, spec, now})
            .status());
    MLCORE_ASSIGN_OR_RETURN(auto vrow, db.Query("SELECT id FROM pipeline_versions WHERE "
                                                "pipeline_id = ?1 AND digest = ?2",
                                                {pipeline_id, digest}));
    int64_t version_id = ValueInt(vrow.at(0).at(0));
    MLCORE_RETURN_IF_ERROR(
        db.Query("INSERT OR IGNORE INTO pipeline_experiments(namespace, name, created_at) "
                 "VALUES (?1, ?2, ?3)",
                 {ns, options_.experiment, now})
            .status());
    MLCORE_ASSIGN_OR_RETURN(auto erow, db.Query("SELECT id FROM pipeline_experiments WHERE "
                                                "namespace = ?1 AND name = ?2",
                                                {ns, options_.experiment}));
    int64_t experiment_id = ValueInt(erow.at(0).at(0));

    if (!options_.resume_run_id.empty()) {
      run_id_ = options_.resume_run_id;
      MLCORE_ASSIGN_OR_RETURN(
          auto rows, db.Query("SELECT r.state, v.digest, r.owner_host, r.owner_pid, "
                              "r.owner_start, r.arguments FROM pipeline_runs r JOIN "
                              "pipeline_versions v ON v.id = r.version_id WHERE r.id = ?1 AND "
                              "r.namespace = ?2",
                              {run_id_, ns}));
      if (rows.empty()) {
        return absl::NotFoundError(absl::StrCat("no run '", run_id_, "' to resume"));
      }
      std::string st = ValueText(rows[0][0]);
      ProcessIdentity owner{ValueText(rows[0][2]), ValueInt(rows[0][3]), ValueText(rows[0][4])};
      if (st == state::kRunning && IsAlive(owner)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "run '", run_id_, "' is still running (pid ", owner.pid, " on ", owner.host, ")"));
      }
      if (st == state::kSucceeded) {
        return absl::FailedPreconditionError(
            absl::StrCat("run '", run_id_, "' succeeded; there is nothing to resume"));
      }
      if (ValueText(rows[0][1]) != digest) {
        return absl::FailedPreconditionError(
            absl::StrCat("run '", run_id_, "' ran a different version of pipeline '",
                         pipeline_.name(), "' (digest ", ValueText(rows[0][1]).substr(0, 12),
                         ", this one ", digest.substr(0, 12), ")"));
      }
      if (reuse_arguments) {
        MLCORE_ASSIGN_OR_RETURN(arguments_, pipeline_.ResolveArguments(ParseJsonOr(
                                                ValueText(rows[0][5]), Json::object())));
        args_json = Json::object();
        for (const auto& [k, v] : arguments_) args_json[k] = v;
      }
      MLCORE_RETURN_IF_ERROR(
          db.Query("UPDATE pipeline_runs SET state = ?2, error = '', owner_host = ?3, "
                   "owner_pid = ?4, owner_start = ?5, started_at = ?6, finished_at = NULL, "
                   "arguments = ?7 WHERE id = ?1",
                   {run_id_, std::string(state::kRunning), me.host, me.pid, me.start, now,
                    args_json.dump()})
              .status());
      MLCORE_ASSIGN_OR_RETURN(auto trows, db.Query("SELECT name, state, outputs FROM "
                                                   "pipeline_tasks WHERE run_id = ?1",
                                                   {run_id_}));
      for (const auto& r : trows) {
        std::string ts = ValueText(r[1]);
        if (ts != state::kSucceeded && ts != state::kCached) continue;
        auto it = index_.find(ValueText(r[0]));
        if (it == index_.end() || it->second >= static_cast<int32_t>(tasks.size())) {
          // A loop runs again (expanding the same iterations); its iteration tasks keep what
          // they recorded and do not run again.
          TaskResult& prior = prior_[ValueText(r[0])];
          prior.name = ValueText(r[0]);
          prior.state = ts;
          prior.outputs = ParseJsonOr(ValueText(r[2]), Json::object());
          continue;
        }
        results_[it->second].state = ts;
        results_[it->second].outputs = ParseJsonOr(ValueText(r[2]), Json::object());
      }
      return db
          .Query(
              "UPDATE pipeline_tasks SET state = 'pending', error = '' WHERE run_id = ?1 "
              "AND state NOT IN ('succeeded', 'cached')",
              {run_id_})
          .status();
    }

    run_id_ = NewRunId();
    MLCORE_RETURN_IF_ERROR(
        db.Query("INSERT INTO pipeline_runs(id, namespace, experiment_id, version_id, arguments, "
                 "state, owner_host, owner_pid, owner_start, created_at, started_at) VALUES "
                 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                 {run_id_, ns, experiment_id, version_id, args_json.dump(),
                  std::string(state::kRunning), me.host, me.pid, me.start, now})
            .status());
    MLCORE_ASSIGN_OR_RETURN(store::Statement insert,
                            db.Prepare("INSERT INTO pipeline_tasks(run_id, name, component, "
                                       "state) VALUES (?1, ?2, ?3, 'pending')"));
    // A loop's body tasks get their rows (as `task[i]`) when the loop expands; the loop has
    // one of its own, listed where its body was defined.
    std::set<std::string> listed;
    for (const Task& t : tasks) {
      std::string name = t.name;
      std::string component = t.component->name;
      if (!t.options.loop.empty()) {
        // Listed as its outermost loop: nested loops get rows per outer iteration (`loop[i]`).
        std::string top = t.options.loop;
        while (!pipeline_.FindLoop(top)->parent.empty()) top = pipeline_.FindLoop(top)->parent;
        if (!listed.insert(top).second) continue;
        name = top;
        component = "ParallelFor";
      }
      MLCORE_RETURN_IF_ERROR(insert.Reset());
      MLCORE_RETURN_IF_ERROR(insert.BindAll({run_id_, name, component}));
      MLCORE_RETURN_IF_ERROR(insert.Step().status());
    }
    for (const Loop& l : loops) {
      if (listed.count(l.name) > 0 || !l.parent.empty()) continue;  // listed, or nested
      MLCORE_RETURN_IF_ERROR(insert.Reset());
      MLCORE_RETURN_IF_ERROR(insert.BindAll({run_id_, l.name, std::string("ParallelFor")}));
      MLCORE_RETURN_IF_ERROR(insert.Step().status());
    }
    return absl::OkStatus();
  });
}

StatusOr<std::vector<store::Row>> RunState::Cached(std::string_view sql,
                                                   const std::vector<store::Value>& params) {
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    MLCORE_ASSIGN_OR_RETURN(store::Statement prepared, client_->metadata().Prepare(sql));
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
    "UPDATE pipeline_tasks SET state = ?3, attempts = MAX(attempts, ?4), cache_key = ?5, "
    "outputs = ?6, error = ?7, finished_at = ?8 WHERE run_id = ?1 AND name = ?2";
constexpr char kRecordSucceeded[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = MAX(attempts, ?4), cache_key = ?5, "
    "outputs = ?6, error = '', finished_at = ?7 WHERE run_id = ?1 AND name = ?2";
// A start and a success of the same task in one batch (the common case for in-process tasks),
// written as one statement.
constexpr char kRecordRanAndSucceeded[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = MAX(attempts, ?4), cache_key = ?5, "
    "outputs = ?6, error = '', finished_at = ?7, stdout_path = ?8, stderr_path = ?9, "
    "started_at = COALESCE(started_at, ?10) WHERE run_id = ?1 AND name = ?2";
constexpr char kRecordCache[] =
    "INSERT OR REPLACE INTO pipeline_cache(key, component, outputs, run_id, task, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
// How stale the records of a busy run may look, and the queue lengths that wake the flusher
// early and that make a recording thread write itself (bounding memory and what a crash loses).
constexpr auto kFlushInterval = std::chrono::milliseconds(10);
constexpr size_t kWakeFlusher = 256;
constexpr size_t kMaxDeferred = 8192;
}  // namespace

// Merges each task's start record into its success record when both are in `batch`, leaving
// the start's sql empty (skipped).
void MergeStarts(std::vector<RunState::Deferred>& batch) {
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

Status RunState::Write(const std::function<Status()>& fn) {
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  std::vector<Deferred> taken;
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    taken.swap(deferred_);
  }
  MergeStarts(taken);
  Status status = client_->metadata().Transaction([&]() -> Status {
    for (const Deferred& d : taken) {
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

Status RunState::FlushDeferred() {
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    if (deferred_.empty()) return absl::OkStatus();
  }
  return Write([] { return absl::OkStatus(); });
}

void RunState::Defer(Deferred record) {
  size_t queued;
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    deferred_.push_back(std::move(record));
    queued = deferred_.size();
  }
  if (queued == kWakeFlusher) deferred_cv_.notify_one();
  if (queued >= kMaxDeferred) {
    if (Status st = FlushDeferred(); !st.ok()) {
      MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << st;
    }
  }
}

void RunState::FlusherLoop() {
  std::unique_lock<std::mutex> dl(deferred_mu_);
  while (!stop_flusher_) {
    deferred_cv_.wait_for(dl, kFlushInterval);
    if (deferred_.empty()) continue;
    dl.unlock();
    if (Status st = FlushDeferred(); !st.ok()) {
      MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << st;
    }
    dl.lock();
  }
}

Status RunState::RecordTask(const Task& task, const std::string& st, int attempts,
                            const std::string& cache_key, const Json& outputs,
                            const std::string& error, bool finished) {
  const double now = ToSeconds(absl::Now());
  Deferred record;
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

Status RunState::RecordSuccess(const Task& task, int attempts, const std::string& cache_key,
                               const std::vector<Produced>& produced,
                               const std::map<std::string, Json>& inputs_used, Json* outputs) {
  store::MetadataStore& db = client_->metadata();
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
      MLCORE_RETURN_IF_ERROR(store::RecordArtifact(db, p.artifact));
      MLCORE_RETURN_IF_ERROR(
          Cached("INSERT INTO pipeline_artifacts(run_id, task, output, type, sha256, uri, "
                 "metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                 {run_id_, task.name, p.name, std::string(ValueTypeName(p.type)), p.artifact.digest,
                  p.artifact.uri(), p.metadata.dump(), now})
              .status());
      (*outputs)["artifacts"][p.name] = {{"id", db.last_insert_rowid()},
                                         {"digest", p.artifact.digest},
                                         {"type", ValueTypeName(p.type)},
                                         {"uri", p.artifact.uri()},
                                         {"metadata", p.metadata}};
    }
    for (const auto& [input, art] : inputs_used) {
      MLCORE_RETURN_IF_ERROR(
          Cached("INSERT OR IGNORE INTO pipeline_lineage(artifact_id, run_id, task, input) "
                 "VALUES (?1, ?2, ?3, ?4)",
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

Status RunState::FinishRun() {
  Status flushed = FlushDeferred();
  if (!flushed.ok()) {
    MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << flushed;
  }
  FinalRecord final;
  final.run_id = run_id_;
  final.state = state::kSucceeded;
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    for (size_t i = 0; i < results_.size(); ++i) {
      if (results_[i].state == state::kFailed) {
        final.state = state::kFailed;
        if (final.error.empty()) {
          final.error = results_[i].error;
          if (final.error.empty()) {
            auto rows = client_->metadata().Query(
                "SELECT error FROM pipeline_tasks WHERE run_id = ?1 AND name = ?2",
                {run_id_, results_[i].name});
            final.error = rows.ok() && !rows->empty() ? ValueText((*rows)[0][0])
                                                      : "task '" + results_[i].name + "' failed";
          }
        }
      }
      // The tasks' outcomes go with the run's when some of their own records were refused.
      if (records_refused_) {
        final.tasks.push_back({{"name", results_[i].name},
                               {"state", results_[i].state},
                               {"error", results_[i].error},
                               {"outputs", results_[i].outputs}});
      }
    }
    for (const PipelineOutput& o : pipeline_.outputs()) {
      const Json& outs = results_[index_.at(o.task)].outputs;
      if (outs.contains("parameters") && outs["parameters"].contains(o.output)) {
        final.outputs[o.name] = outs["parameters"][o.output];
      } else if (outs.contains("artifacts") && outs["artifacts"].contains(o.output)) {
        final.outputs[o.name] = outs["artifacts"][o.output];
      }
    }
  }
  final.finished_at = ToSeconds(absl::Now());
  Status st = WriteFinalRecord(client_->metadata(), final, "");
  if (st.ok()) return absl::OkStatus();
  // The run still ends. Its outcome is kept twice: in memory, for this client to write at its
  // next RecoverInterrupted, and in a file, for whichever process recovers the run after this
  // one is gone.
  const std::string path = OutcomePath(client_->home(), run_id_);
  Status saved = SaveOutcome(path, final);
  {
    std::lock_guard<std::mutex> lock(client_->unrecorded_->mu);
    client_->unrecorded_->runs.push_back(final);
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

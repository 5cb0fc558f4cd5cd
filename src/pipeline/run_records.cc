// The records side of a run: creating (or reopening, on resume) the run and its task rows,
// and writing each task's and the run's outcome. Kept apart from the execution logic in
// executor.cc, which calls these.
#include <map>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "pipeline/executor.h"
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
  results_.resize(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    index_[tasks[i].name] = static_cast<int32_t>(i);
    results_[i].state = state::kPending;
  }
  store::MetadataStore& db = client_->metadata();
  const std::string& ns = client_->options().ns;
  const std::string digest = pipeline_.Digest();
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
                 {pipeline_id, digest, pipeline_.ToJson().dump(), now})
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
        auto it = index_.find(ValueText(r[0]));
        if (it == index_.end()) continue;
        std::string ts = ValueText(r[1]);
        if (ts == state::kSucceeded || ts == state::kCached) {
          results_[it->second].state = ts;
          results_[it->second].outputs = ParseJsonOr(ValueText(r[2]), Json::object());
        }
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
    for (const Task& t : tasks) {
      MLCORE_RETURN_IF_ERROR(insert.Reset());
      MLCORE_RETURN_IF_ERROR(insert.BindAll({run_id_, t.name, t.component->name}));
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
  store::Statement& stmt = it->second;
  MLCORE_RETURN_IF_ERROR(stmt.BindAll(params));
  std::vector<store::Row> rows;
  Status status;
  while (true) {
    StatusOr<bool> has_row = stmt.Step();
    if (!has_row.ok()) {
      status = has_row.status();
      break;
    }
    if (!*has_row) break;
    rows.push_back(stmt.ReadRow());
  }
  // Reset at once: a statement left mid-way would hold its read transaction open. After a
  // failed step, Reset repeats that error, which is already in `status`.
  Status reset = stmt.Reset();
  if (!status.ok()) return status;
  MLCORE_RETURN_IF_ERROR(reset);
  return rows;
}

Status RunState::Write(const std::function<Status()>& fn) {
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  Status status = client_->metadata().Transaction([&]() -> Status {
    for (const Deferred& d : deferred_) MLCORE_RETURN_IF_ERROR(Cached(d.sql, d.params).status());
    return fn();
  });
  // On failure the deferred records stay for the next write.
  if (status.ok()) deferred_.clear();
  return status;
}

Status RunState::FlushDeferred() {
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  if (deferred_.empty()) return absl::OkStatus();
  return Write([] { return absl::OkStatus(); });
}

namespace {
constexpr char kRecordRunning[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = ?4, cache_key = ?5, stdout_path = ?6, "
    "stderr_path = ?7, error = '', started_at = COALESCE(started_at, ?8) WHERE run_id = ?1 AND "
    "name = ?2";
constexpr char kRecordFinished[] =
    "UPDATE pipeline_tasks SET state = ?3, attempts = MAX(attempts, ?4), cache_key = ?5, "
    "outputs = ?6, error = ?7, finished_at = ?8 WHERE run_id = ?1 AND name = ?2";
// Bounds what a crash can lose and how stale the records look while only deferrable records
// are written.
constexpr size_t kMaxDeferred = 64;
}  // namespace

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
  const bool deferrable = st == state::kCached;
  std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
  if (deferrable) {
    deferred_.push_back(std::move(record));
    return deferred_.size() >= kMaxDeferred ? FlushDeferred() : absl::OkStatus();
  }
  // A single statement runs in SQLite's own implicit transaction: atomic, with no BEGIN/COMMIT
  // round trips.
  if (deferred_.empty()) return Cached(record.sql, record.params).status();
  return Write([&] { return Cached(record.sql, record.params).status(); });
}

Status RunState::RecordSuccess(const Task& task, int attempts, const std::string& cache_key,
                               const std::vector<Produced>& produced,
                               const std::map<std::string, Json>& inputs_used, Json* outputs) {
  store::MetadataStore& db = client_->metadata();
  const double now = ToSeconds(absl::Now());
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
        Cached("UPDATE pipeline_tasks SET state = ?3, attempts = MAX(attempts, ?4), "
               "cache_key = ?5, outputs = ?6, error = '', finished_at = ?7 WHERE run_id = ?1 "
               "AND name = ?2",
               {run_id_, task.name, std::string(state::kSucceeded), int64_t{attempts}, cache_key,
                dumped, now})
            .status());
    if (!cache_key.empty()) {
      MLCORE_RETURN_IF_ERROR(
          Cached("INSERT OR REPLACE INTO pipeline_cache(key, component, outputs, run_id, task, "
                 "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                 {cache_key, task.component->name, dumped, run_id_, task.name, now})
              .status());
    }
    return absl::OkStatus();
  });
}

void RunState::FinishRun() {
  if (Status flushed = FlushDeferred(); !flushed.ok()) {
    MLCORE_LOG(Error) << "recording the tasks of run " << run_id_ << ": " << flushed;
  }
  std::string final_state = state::kSucceeded;
  std::string error;
  Json outputs = Json::object();
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    for (size_t i = 0; i < results_.size(); ++i) {
      if (results_[i].state == state::kFailed) {
        final_state = state::kFailed;
        if (error.empty()) {
          auto rows = client_->metadata().Query(
              "SELECT error FROM pipeline_tasks WHERE run_id = ?1 AND name = ?2",
              {run_id_, pipeline_.tasks()[i].name});
          error = rows.ok() && !rows->empty() ? ValueText((*rows)[0][0])
                                              : "task '" + pipeline_.tasks()[i].name + "' failed";
        }
      }
    }
    for (const PipelineOutput& o : pipeline_.outputs()) {
      const Json& outs = results_[index_.at(o.task)].outputs;
      if (outs.contains("parameters") && outs["parameters"].contains(o.output)) {
        outputs[o.name] = outs["parameters"][o.output];
      } else if (outs.contains("artifacts") && outs["artifacts"].contains(o.output)) {
        outputs[o.name] = outs["artifacts"][o.output];
      }
    }
  }
  Status st = client_->metadata()
                  .Query(
                      "UPDATE pipeline_runs SET state = ?2, error = ?3, outputs = ?4, "
                      "finished_at = ?5 WHERE id = ?1",
                      {run_id_, final_state, error, outputs.dump(), ToSeconds(absl::Now())})
                  .status();
  if (!st.ok()) {
    MLCORE_LOG(Error) << "recording run " << run_id_ << ": " << st;
  }
}

}  // namespace mlcore::pipeline::internal

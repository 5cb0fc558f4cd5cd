// Prepare: the run's records written before anything runs (or, on resume, the interrupted
// run taken over and what its tasks recorded read back).
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "pipeline/executor.h"
#include "pipeline/records.h"
#include "pipeline/run_heartbeat.h"

namespace mlcore::pipeline::internal {
namespace {

Json ArgumentsJson(const std::map<std::string, Json>& arguments) {
  Json args_json = Json::object();
  for (const auto& [k, v] : arguments) args_json[k] = v;
  return args_json;
}

}  // namespace

Status RunState::Prepare() {
  // A resume without arguments reuses the run's own, read below.
  const bool reuse_arguments = !options_.resume_run_id.empty() &&
                               (options_.arguments.is_null() || options_.arguments.empty());
  if (!reuse_arguments) {
    MLCORE_ASSIGN_OR_RETURN(arguments_, pipeline_.ResolveArguments(options_.arguments));
  }
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  results_.slots.resize(tasks.size() + loops.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    results_.slots[i].name = tasks[i].name;
    results_.slots[i].state = state::kPending;
  }
  for (size_t li = 0; li < loops.size(); ++li) {
    results_.slots[tasks.size() + li].name = loops[li].name;
    results_.slots[tasks.size() + li].state = state::kPending;
  }
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
  return client_->metadata().Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(Registration reg, Register(spec, digest, now));
    if (!options_.resume_run_id.empty()) return Reopen(digest, reuse_arguments, now);
    return Create(reg, now);
  });
}

StatusOr<RunState::Registration> RunState::Register(const std::string& spec,
                                                    const std::string& digest, double now) {
  store::SqlDatabase& db = client_->metadata();
  const std::string& ns = client_->options().ns;
  MLCORE_RETURN_IF_ERROR(db.Query("INSERT INTO pipeline_pipelines(namespace, name, created_at) "
                                  "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                                  {ns, pipeline_.name(), now})
                             .status());
  MLCORE_ASSIGN_OR_RETURN(auto prow,
                          db.Query("SELECT id FROM pipeline_pipelines WHERE namespace = ?1 AND "
                                   "name = ?2",
                                   {ns, pipeline_.name()}));
  int64_t pipeline_id = ValueInt(prow.at(0).at(0));
  MLCORE_RETURN_IF_ERROR(
      db.Query("INSERT INTO pipeline_versions(pipeline_id, digest, spec, created_at) "
               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
               {pipeline_id, digest, spec, now})
          .status());
  MLCORE_ASSIGN_OR_RETURN(auto vrow, db.Query("SELECT id FROM pipeline_versions WHERE "
                                              "pipeline_id = ?1 AND digest = ?2",
                                              {pipeline_id, digest}));
  int64_t version_id = ValueInt(vrow.at(0).at(0));
  MLCORE_RETURN_IF_ERROR(db.Query("INSERT INTO pipeline_experiments(namespace, name, created_at) "
                                  "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                                  {ns, options_.experiment, now})
                             .status());
  MLCORE_ASSIGN_OR_RETURN(auto erow, db.Query("SELECT id FROM pipeline_experiments WHERE "
                                              "namespace = ?1 AND name = ?2",
                                              {ns, options_.experiment}));
  int64_t experiment_id = ValueInt(erow.at(0).at(0));

  return Registration{version_id, experiment_id};
}

Status RunState::Reopen(const std::string& digest, bool reuse_arguments, double now) {
  store::SqlDatabase& db = client_->metadata();
  const std::string& ns = client_->options().ns;
  const ProcessIdentity me = ThisProcess();
  run_id_ = options_.resume_run_id;
  const char* store_now = StoreNowSql(db.dialect());
  MLCORE_ASSIGN_OR_RETURN(
      auto rows, db.Query(absl::StrCat("SELECT r.state, v.digest, r.owner_host, r.owner_pid, "
                                       "r.owner_start, r.arguments, r.heartbeat_at, ",
                                       store_now,
                                       " FROM pipeline_runs r JOIN pipeline_versions v ON v.id = "
                                       "r.version_id WHERE r.id = ?1 AND r.namespace = ?2"),
                          {run_id_, ns}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no run '", run_id_, "' to resume"));
  }
  std::string st = ValueText(rows[0][0]);
  ProcessIdentity owner{ValueText(rows[0][2]), ValueInt(rows[0][3]), ValueText(rows[0][4])};
  if (st == state::kRunning &&
      !OwnerGone(owner, OptionalTime(rows[0][6]), OptionalTime(rows[0][7]).value_or(absl::Now()),
                 client_->options().run_heartbeat_timeout)
           .has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("run '", run_id_, "' is still running (pid ", owner.pid, " on ", owner.host,
                     owner.host == me.host ? ")" : ", its heartbeat is fresh)"));
  }
  if (st == state::kSucceeded) {
    return absl::FailedPreconditionError(
        absl::StrCat("run '", run_id_, "' succeeded; there is nothing to resume"));
  }
  if (ValueText(rows[0][1]) != digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run '", run_id_, "' ran a different version of pipeline '", pipeline_.name(), "' (digest ",
        ValueText(rows[0][1]).substr(0, 12), ", this one ", digest.substr(0, 12), ")"));
  }
  if (reuse_arguments) {
    MLCORE_ASSIGN_OR_RETURN(
        arguments_, pipeline_.ResolveArguments(ParseJsonOr(ValueText(rows[0][5]), Json::object())));
  }
  // Taken only if nobody took it since it was read (compare and set on state and owner): two
  // clients resuming one dead run at once on PostgreSQL both read it before either writes; the
  // second's update then matches no row.
  const char* same =
      db.dialect() == store::SqlDialect::kPostgres ? " IS NOT DISTINCT FROM " : " IS ";
  MLCORE_ASSIGN_OR_RETURN(
      auto taken,
      db.Query(
          absl::StrCat("UPDATE pipeline_runs SET state = ?2, error = '', owner_host = ?3, "
                       "owner_pid = ?4, owner_start = ?5, started_at = ?6, finished_at = "
                       "NULL, arguments = ?7, heartbeat_at = ",
                       store_now, " WHERE id = ?1 AND state = ?8 AND owner_host", same,
                       "?9 AND owner_pid", same, "?10 AND owner_start", same, "?11 RETURNING id"),
          {run_id_, std::string(state::kRunning), me.host, me.pid, me.start, now,
           ArgumentsJson(arguments_).dump(), st, rows[0][2], rows[0][3], rows[0][4]}));
  if (taken.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("run '", run_id_, "' was resumed by another client meanwhile"));
  }
  return ReadPriorTasks();
}

// What the run's tasks recorded before it was interrupted: the succeeded and cached ones keep
// their outputs (and do not run again); the others go back to pending.
Status RunState::ReadPriorTasks() {
  store::SqlDatabase& db = client_->metadata();
  MLCORE_ASSIGN_OR_RETURN(auto trows, db.Query("SELECT name, state, outputs FROM "
                                               "pipeline_tasks WHERE run_id = ?1",
                                               {run_id_}));
  for (const auto& r : trows) {
    std::string ts = ValueText(r[1]);
    if (ts != state::kSucceeded && ts != state::kCached) continue;
    auto it = graph_.index().find(ValueText(r[0]));
    if (it == graph_.index().end() || it->second >= graph_.num_tasks()) {
      // A loop runs again (expanding the same iterations); its iteration tasks keep what
      // they recorded and do not run again.
      TaskResult& prior = results_.prior[ValueText(r[0])];
      prior.name = ValueText(r[0]);
      prior.state = ts;
      prior.outputs = ParseJsonOr(ValueText(r[2]), Json::object());
      continue;
    }
    results_.slots[it->second].state = ts;
    results_.slots[it->second].outputs = ParseJsonOr(ValueText(r[2]), Json::object());
  }
  return db
      .Query(
          "UPDATE pipeline_tasks SET state = 'pending', error = '' WHERE run_id = ?1 "
          "AND state NOT IN ('succeeded', 'cached')",
          {run_id_})
      .status();
}

Status RunState::Create(const Registration& reg, double now) {
  store::SqlDatabase& db = client_->metadata();
  const std::string& ns = client_->options().ns;
  const ProcessIdentity me = ThisProcess();
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  run_id_ = NewRunId();
  MLCORE_RETURN_IF_ERROR(
      db.Query(absl::StrCat("INSERT INTO pipeline_runs(id, namespace, experiment_id, version_id, "
                            "arguments, state, owner_host, owner_pid, owner_start, created_at, "
                            "started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                            "?9, ?10, ?10, ",
                            StoreNowSql(db.dialect()), ")"),
               {run_id_, ns, reg.experiment_id, reg.version_id, ArgumentsJson(arguments_).dump(),
                std::string(state::kRunning), me.host, me.pid, me.start, now})
          .status());
  constexpr char kInsertTask[] =
      "INSERT INTO pipeline_tasks(run_id, name, component, state) VALUES (?1, ?2, ?3, 'pending')";
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
    MLCORE_RETURN_IF_ERROR(db.Query(kInsertTask, {run_id_, name, component}).status());
  }
  for (const Loop& l : loops) {
    if (listed.count(l.name) > 0 || !l.parent.empty()) continue;  // listed, or nested
    MLCORE_RETURN_IF_ERROR(
        db.Query(kInsertTask, {run_id_, l.name, std::string("ParallelFor")}).status());
  }
  return absl::OkStatus();
}

}  // namespace mlcore::pipeline::internal

// The pipelines page's data: runs (paged, filtered), one run's tasks and artifacts, its DAG with
// live task states, task logs, and recurring runs with their next fire time.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mlcore/hpo/trial_log.h"
#include "mlcore/pipeline/cron.h"
#include "mlcore/pipeline/drawing.h"
#include "ui/stores.h"

namespace mlcore::ui {

namespace {

constexpr char kRunColumns[] =
    "r.id, p.name, e.name, r.state, r.created_at, r.started_at, r.finished_at, r.error, "
    "r.namespace, r.version_id, r.arguments, r.outputs";
constexpr char kRunFrom[] =
    "FROM pipeline_runs r JOIN pipeline_experiments e ON e.id = r.experiment_id "
    "JOIN pipeline_versions v ON v.id = r.version_id "
    "JOIN pipeline_pipelines p ON p.id = v.pipeline_id ";

Json RunRow(const store::Row& r, double now) {
  Json started = Number(r[5]);
  Json finished = Number(r[6]);
  Json duration = nullptr;
  if (started.is_number()) {
    double end = finished.is_number() ? finished.get<double>() : now;
    duration = end - started.get<double>();
  }
  return {{"id", Text(r[0])},        {"pipeline", Text(r[1])},     {"experiment", Text(r[2])},
          {"state", Text(r[3])},     {"created_at", Number(r[4])}, {"started_at", started},
          {"finished_at", finished}, {"duration_s", duration},     {"error", Text(r[7])},
          {"namespace", Text(r[8])}};
}

}  // namespace

StatusOr<std::string> Dashboard::Runs(const RunQuery& q) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  const double now = internal::NowSeconds();
  const std::string where =
      "WHERE (?1 = '' OR r.state = ?1) AND (?2 = '' OR e.name = ?2) AND (?3 = '' OR p.name = ?3) "
      // Typed for PostgreSQL, which would otherwise read ?4 and ?5 as integers from "< 0".
      "AND (CAST(?4 AS DOUBLE PRECISION) < 0 OR COALESCE(r.finished_at, ?6) - "
      "COALESCE(r.started_at, r.created_at) >= CAST(?4 AS DOUBLE PRECISION)) "
      "AND (CAST(?5 AS DOUBLE PRECISION) < 0 OR COALESCE(r.finished_at, ?6) - "
      "COALESCE(r.started_at, r.created_at) <= CAST(?5 AS DOUBLE PRECISION)) ";
  std::vector<store::Value> params = {q.state,          q.experiment,     q.pipeline,
                                      q.min_duration_s, q.max_duration_s, now};
  MLCORE_ASSIGN_OR_RETURN(
      Stores::Page page,
      s->QueryPage("pipeline_runs", kRunColumns, absl::StrCat(kRunFrom, where), "r.created_at DESC",
                   params, q.offset, q.limit, options_.max_page_size));
  Json out = {{"total", page.total},
              {"offset", q.offset},
              {"runs", Json::array()},
              {"experiments", Json::array()},
              {"pipelines", Json::array()}};
  for (const store::Row& r : page.rows) out["runs"].push_back(RunRow(r, now));
  MLCORE_ASSIGN_OR_RETURN(
      auto experiments,
      s->QueryTable("pipeline_experiments",
                    "SELECT DISTINCT name FROM pipeline_experiments ORDER BY name"));
  for (const store::Row& r : experiments) out["experiments"].push_back(Text(r[0]));
  MLCORE_ASSIGN_OR_RETURN(
      auto pipelines, s->QueryTable("pipeline_pipelines",
                                    "SELECT DISTINCT name FROM pipeline_pipelines ORDER BY name"));
  for (const store::Row& r : pipelines) out["pipelines"].push_back(Text(r[0]));
  return out.dump();
}

StatusOr<std::string> Dashboard::Run(const std::string& run_id) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(auto runs, s->QueryTable("pipeline_runs",
                                                   absl::StrCat("SELECT ", kRunColumns, " ",
                                                                kRunFrom, "WHERE r.id = ?1"),
                                                   {run_id}));
  if (runs.empty()) return absl::NotFoundError(absl::StrCat("no pipeline run '", run_id, "'"));
  Json run = RunRow(runs[0], internal::NowSeconds());
  run["arguments"] = ParseJson(Text(runs[0][10]));
  run["outputs"] = ParseJson(Text(runs[0][11]));
  MLCORE_ASSIGN_OR_RETURN(
      auto tasks, s->Query("SELECT name, component, state, attempts, cache_key, outputs, error, "
                           "stdout_path, stderr_path, started_at, finished_at FROM pipeline_tasks "
                           "WHERE run_id = ?1 ORDER BY COALESCE(started_at, 1e18), name",
                           {run_id}));
  MLCORE_ASSIGN_OR_RETURN(auto made,
                          s->Query("SELECT id, task, output, type, sha256, created_at FROM "
                                   "pipeline_artifacts WHERE run_id = ?1 ORDER BY id",
                                   {run_id}));
  MLCORE_ASSIGN_OR_RETURN(
      auto used, s->Query("SELECT l.task, l.input, a.id, a.type, a.sha256, a.run_id, a.task, "
                          "a.output FROM pipeline_lineage l JOIN pipeline_artifacts a ON a.id = "
                          "l.artifact_id WHERE l.run_id = ?1 ORDER BY l.task, l.input",
                          {run_id}));
  Json list = Json::array();
  for (const store::Row& t : tasks) {
    const std::string name = Text(t[0]);
    Json task = {{"name", name},
                 {"component", Text(t[1])},
                 {"state", Text(t[2])},
                 {"attempts", Int(t[3])},
                 {"retries", std::max<int64_t>(0, Int(t[3]) - 1)},
                 {"cache_hit", Text(t[2]) == "cached"},
                 {"cache_key", Text(t[4])},
                 {"outputs", ParseJson(Text(t[5]))},
                 {"error", Text(t[6])},
                 {"has_stdout", !Text(t[7]).empty()},
                 {"has_stderr", !Text(t[8]).empty()},
                 {"started_at", Number(t[9])},
                 {"finished_at", Number(t[10])},
                 {"inputs", Json::array()},
                 {"artifacts", Json::array()}};
    for (const store::Row& u : used) {
      if (Text(u[0]) != name) continue;
      task["inputs"].push_back({{"input", Text(u[1])},
                                {"artifact_id", Int(u[2])},
                                {"type", Text(u[3])},
                                {"sha256", Text(u[4])},
                                {"from_run", Text(u[5])},
                                {"from_task", Text(u[6])},
                                {"from_output", Text(u[7])}});
    }
    for (const store::Row& a : made) {
      if (Text(a[1]) != name) continue;
      task["artifacts"].push_back({{"artifact_id", Int(a[0])},
                                   {"output", Text(a[2])},
                                   {"type", Text(a[3])},
                                   {"sha256", Text(a[4])}});
    }
    list.push_back(std::move(task));
  }
  run["tasks"] = std::move(list);
  return run.dump();
}

StatusOr<std::string> Dashboard::RunDag(const std::string& run_id) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(
      auto spec, s->QueryTable("pipeline_runs",
                               "SELECT v.spec FROM pipeline_runs r JOIN pipeline_versions v ON "
                               "v.id = r.version_id WHERE r.id = ?1",
                               {run_id}));
  if (spec.empty()) return absl::NotFoundError(absl::StrCat("no pipeline run '", run_id, "'"));
  MLCORE_ASSIGN_OR_RETURN(pipeline::DagGraph graph, pipeline::DagGraphFromSpec(Text(spec[0][0])));
  MLCORE_ASSIGN_OR_RETURN(
      auto tasks, s->Query("SELECT name, state FROM pipeline_tasks WHERE run_id = ?1", {run_id}));
  // A loop's body task runs as copies "task[0]", "task[1]"...: the node shows the worst state of
  // its copies (failed over running over pending over the rest).
  auto rank = [](const std::string& st) {
    if (st == "failed") return 4;
    if (st == "running") return 3;
    if (st == "pending") return 2;
    return st.empty() ? 0 : 1;
  };
  for (pipeline::DrawingNode& node : graph.nodes) {
    for (const store::Row& t : tasks) {
      const std::string name = Text(t[0]);
      bool copy = name.size() > node.name.size() &&
                  name.compare(0, node.name.size(), node.name) == 0 &&
                  name[node.name.size()] == '[';
      if (name != node.name && !copy) continue;
      std::string st = Text(t[1]);
      if (name == node.name || rank(st) > rank(node.state)) node.state = st;
    }
  }
  MLCORE_ASSIGN_OR_RETURN(pipeline::DagLayout layout, pipeline::LayOutDag(graph));
  return pipeline::DagSvg(layout);
}

StatusOr<std::string> Dashboard::TaskLog(const std::string& run_id, const std::string& task,
                                         const std::string& stream, int64_t max_bytes) {
  if (stream != "stdout" && stream != "stderr") {
    return absl::InvalidArgumentError("stream must be 'stdout' or 'stderr'");
  }
  std::string path;
  {
    std::lock_guard lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
    MLCORE_ASSIGN_OR_RETURN(
        auto rows,
        s->QueryTable("pipeline_tasks",
                      absl::StrCat("SELECT ", stream,
                                   "_path FROM pipeline_tasks WHERE run_id = ?1 AND name = ?2"),
                      {run_id, task}));
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("no task '", task, "' in run '", run_id, "'"));
    }
    path = Text(rows[0][0]);
  }
  if (path.empty()) return std::string();
  StatusOr<std::string> text = hpo::ReadLogTail(path, max_bytes);
  if (absl::IsNotFound(text.status())) return std::string();
  return text;
}

StatusOr<std::string> Dashboard::Schedules() {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  Json out = {{"schedules", Json::array()}};
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      s->QueryTable(
          "pipeline_schedules",
          "SELECT s.id, s.namespace, s.name, s.pipeline, s.cron, s.time_zone, s.experiment, "
          "s.enabled, s.watermark, s.last_fire, s.max_concurrency, (SELECT run_id FROM "
          "pipeline_schedule_fires f WHERE f.schedule_id = s.id ORDER BY scheduled_time DESC "
          "LIMIT 1) FROM pipeline_schedules s ORDER BY s.namespace, s.name"));
  const absl::Time now = absl::Now();
  for (const store::Row& r : rows) {
    Json next = nullptr;
    bool enabled = Int(r[7]) != 0;
    StatusOr<pipeline::CronSchedule> cron = pipeline::CronSchedule::Parse(Text(r[4]), Text(r[5]));
    if (enabled && cron.ok()) {
      absl::Time after = std::max(now, absl::FromUnixSeconds(Int(r[8])));
      if (auto t = cron->Next(after); t.ok()) next = absl::ToDoubleSeconds(*t - absl::UnixEpoch());
    }
    out["schedules"].push_back({{"id", Text(r[0])},
                                {"namespace", Text(r[1])},
                                {"name", Text(r[2])},
                                {"pipeline", Text(r[3])},
                                {"cron", Text(r[4])},
                                {"time_zone", Text(r[5])},
                                {"experiment", Text(r[6])},
                                {"enabled", enabled},
                                {"last_fire", Number(r[9])},
                                {"max_concurrency", Int(r[10])},
                                {"last_run", Text(r[11])},
                                {"next_fire", next}});
  }
  return out.dump();
}

}  // namespace mlcore::ui

// The pipeline module's tables (runs, tasks, cache, lineage, artifacts' records) and the
// schedules' tables, written once and rendered for SQLite or PostgreSQL (store/ddl.h). On
// PostgreSQL, tables that SQLite orders by its implicit rowid get a `rowid` column of their own,
// so the modules' queries run unchanged on both.
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/schedule.h"
#include "mlcore/store/ddl.h"

namespace mlcore::pipeline {

namespace {

const std::vector<store::Migration>& PipelineTables() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "create_pipeline_tables",
       R"sql(
CREATE TABLE pipeline_pipelines(
  id {ID}, namespace TEXT NOT NULL, name TEXT NOT NULL, created_at {REAL} NOT NULL,
  UNIQUE(namespace, name));
CREATE TABLE pipeline_versions(
  id {ID}, pipeline_id {INT} NOT NULL REFERENCES pipeline_pipelines(id),
  digest TEXT NOT NULL, spec TEXT NOT NULL, created_at {REAL} NOT NULL,
  UNIQUE(pipeline_id, digest));
CREATE TABLE pipeline_experiments(
  id {ID}, namespace TEXT NOT NULL, name TEXT NOT NULL, created_at {REAL} NOT NULL,
  UNIQUE(namespace, name));
CREATE TABLE pipeline_runs(
  id TEXT PRIMARY KEY,{ROWID} namespace TEXT NOT NULL,
  experiment_id {INT} NOT NULL REFERENCES pipeline_experiments(id),
  version_id {INT} NOT NULL REFERENCES pipeline_versions(id),
  arguments TEXT NOT NULL, outputs TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '', owner_host TEXT, owner_pid {INT}, owner_start TEXT,
  created_at {REAL} NOT NULL, started_at {REAL}, finished_at {REAL});
CREATE INDEX pipeline_runs_by_state ON pipeline_runs(state);
CREATE INDEX pipeline_runs_by_namespace ON pipeline_runs(namespace, created_at);
CREATE TABLE pipeline_tasks(
  run_id TEXT NOT NULL REFERENCES pipeline_runs(id), name TEXT NOT NULL,{ROWID}
  component TEXT NOT NULL, state TEXT NOT NULL, attempts {INT} NOT NULL DEFAULT 0,
  cache_key TEXT NOT NULL DEFAULT '', outputs TEXT NOT NULL DEFAULT '{}',
  error TEXT NOT NULL DEFAULT '', stdout_path TEXT, stderr_path TEXT,
  started_at {REAL}, finished_at {REAL}, PRIMARY KEY(run_id, name));
--postgres CREATE INDEX pipeline_tasks_by_rowid ON pipeline_tasks(run_id, rowid);
CREATE TABLE pipeline_artifacts(
  id {ID}, run_id TEXT NOT NULL, task TEXT NOT NULL, output TEXT NOT NULL,
  type TEXT NOT NULL, sha256 TEXT NOT NULL, uri TEXT NOT NULL, metadata TEXT NOT NULL,
  created_at {REAL} NOT NULL);
CREATE INDEX pipeline_artifacts_by_run ON pipeline_artifacts(run_id, task);
CREATE TABLE pipeline_lineage(
  artifact_id {INT} NOT NULL REFERENCES pipeline_artifacts(id), run_id TEXT NOT NULL,
  task TEXT NOT NULL, input TEXT NOT NULL,{ROWID} PRIMARY KEY(artifact_id, run_id, task, input));
CREATE TABLE pipeline_cache(
  key TEXT PRIMARY KEY, component TEXT NOT NULL, outputs TEXT NOT NULL, run_id TEXT NOT NULL,
  task TEXT NOT NULL, created_at {REAL} NOT NULL);
)sql"},
      // Version 2: the driver stamps its run every ClientOptions::run_heartbeat_interval (the
      // store's clock, seconds since the epoch), so that a client on another machine can tell a
      // run whose driver died from a live one. NULL: written before heartbeats (see OwnerGone).
      {2, "pipeline_run_heartbeats",
       R"sql(
ALTER TABLE pipeline_runs ADD COLUMN {IF_NOT_EXISTS}heartbeat_at {REAL};
)sql"},
  };
  return kMigrations;
}

// Version 2 adds to the fires what PostgreSQL's first list already had (IF NOT EXISTS there).
const std::vector<store::Migration>& ScheduleTables() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "create_schedule_tables",
       R"sql(
CREATE TABLE pipeline_schedules(
  id TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
  pipeline TEXT NOT NULL, arguments TEXT NOT NULL, cron TEXT NOT NULL, time_zone TEXT NOT NULL,
  experiment TEXT NOT NULL, max_concurrency {INT} NOT NULL, catchup TEXT NOT NULL,
  max_catchup {INT} NOT NULL, enabled {INT} NOT NULL, watermark {REAL} NOT NULL,
  last_fire {REAL}, created_at {REAL} NOT NULL, updated_at {REAL} NOT NULL,
  UNIQUE(namespace, name));
CREATE TABLE pipeline_schedule_fires(
  schedule_id TEXT NOT NULL, scheduled_time {REAL} NOT NULL,{ROWID} state TEXT NOT NULL,
  run_id TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', owner_host TEXT,
  owner_pid {INT}, owner_start TEXT, fired_at {REAL} NOT NULL,
  PRIMARY KEY(schedule_id, scheduled_time));
CREATE INDEX pipeline_schedule_fires_by_run ON pipeline_schedule_fires(run_id);
)sql"},
      {2, "schedule_fire_retries",
       R"sql(
ALTER TABLE pipeline_schedule_fires ADD COLUMN {IF_NOT_EXISTS}attempts {INT} NOT NULL DEFAULT 0;
ALTER TABLE pipeline_schedule_fires ADD COLUMN {IF_NOT_EXISTS}retry_at {REAL};
)sql"},
      // A claim is a lease (the scheduler that holds it renews lease_until), so a fire claimed by
      // a scheduler that died on another machine frees its slot once the lease runs out.
      {3, "schedule_fire_leases",
       R"sql(
ALTER TABLE pipeline_schedule_fires ADD COLUMN {IF_NOT_EXISTS}lease_owner TEXT;
ALTER TABLE pipeline_schedule_fires ADD COLUMN {IF_NOT_EXISTS}lease_until {REAL};
)sql"},
  };
  return kMigrations;
}

}  // namespace

const std::vector<store::Migration>& PipelineMigrations() {
  static const auto* rendered = new std::vector<store::Migration>(
      store::RenderMigrations(PipelineTables(), store::SqlDialect::kSqlite));
  return *rendered;
}

const std::vector<store::Migration>& PostgresPipelineMigrations() {
  static const auto* rendered = new std::vector<store::Migration>(
      store::RenderMigrations(PipelineTables(), store::SqlDialect::kPostgres));
  return *rendered;
}

const std::vector<store::Migration>& ScheduleMigrations() {
  static const auto* rendered = new std::vector<store::Migration>(
      store::RenderMigrations(ScheduleTables(), store::SqlDialect::kSqlite));
  return *rendered;
}

const std::vector<store::Migration>& PostgresScheduleMigrations() {
  static const auto* rendered = new std::vector<store::Migration>(
      store::RenderMigrations(ScheduleTables(), store::SqlDialect::kPostgres));
  return *rendered;
}

}  // namespace mlcore::pipeline

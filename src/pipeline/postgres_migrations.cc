// The pipeline module's tables on PostgreSQL: the same tables and columns as the SQLite lists
// (client.cc, schedule.cc), in PostgreSQL's types. Tables that SQLite orders by its implicit
// rowid get a `rowid` column of their own, so the modules' queries run unchanged on both.
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/schedule.h"

namespace mlcore::pipeline {

const std::vector<store::Migration>& PostgresPipelineMigrations() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "create_pipeline_tables",
       R"sql(
CREATE TABLE pipeline_pipelines(
  id BIGSERIAL PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, UNIQUE(namespace, name));
CREATE TABLE pipeline_versions(
  id BIGSERIAL PRIMARY KEY, pipeline_id BIGINT NOT NULL REFERENCES pipeline_pipelines(id),
  digest TEXT NOT NULL, spec TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
  UNIQUE(pipeline_id, digest));
CREATE TABLE pipeline_experiments(
  id BIGSERIAL PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, UNIQUE(namespace, name));
CREATE TABLE pipeline_runs(
  id TEXT PRIMARY KEY, rowid BIGSERIAL, namespace TEXT NOT NULL,
  experiment_id BIGINT NOT NULL REFERENCES pipeline_experiments(id),
  version_id BIGINT NOT NULL REFERENCES pipeline_versions(id),
  arguments TEXT NOT NULL, outputs TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '', owner_host TEXT, owner_pid BIGINT, owner_start TEXT,
  created_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION,
  finished_at DOUBLE PRECISION);
CREATE INDEX pipeline_runs_by_state ON pipeline_runs(state);
CREATE INDEX pipeline_runs_by_namespace ON pipeline_runs(namespace, created_at);
CREATE TABLE pipeline_tasks(
  run_id TEXT NOT NULL REFERENCES pipeline_runs(id), name TEXT NOT NULL, rowid BIGSERIAL,
  component TEXT NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
  cache_key TEXT NOT NULL DEFAULT '', outputs TEXT NOT NULL DEFAULT '{}',
  error TEXT NOT NULL DEFAULT '', stdout_path TEXT, stderr_path TEXT,
  started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, PRIMARY KEY(run_id, name));
CREATE INDEX pipeline_tasks_by_rowid ON pipeline_tasks(run_id, rowid);
CREATE TABLE pipeline_artifacts(
  id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, task TEXT NOT NULL, output TEXT NOT NULL,
  type TEXT NOT NULL, sha256 TEXT NOT NULL, uri TEXT NOT NULL, metadata TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL);
CREATE INDEX pipeline_artifacts_by_run ON pipeline_artifacts(run_id, task);
CREATE TABLE pipeline_lineage(
  artifact_id BIGINT NOT NULL REFERENCES pipeline_artifacts(id), run_id TEXT NOT NULL,
  task TEXT NOT NULL, input TEXT NOT NULL, rowid BIGSERIAL,
  PRIMARY KEY(artifact_id, run_id, task, input));
CREATE TABLE pipeline_cache(
  key TEXT PRIMARY KEY, component TEXT NOT NULL, outputs TEXT NOT NULL, run_id TEXT NOT NULL,
  task TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
)sql"},
  };
  return kMigrations;
}

const std::vector<store::Migration>& PostgresScheduleMigrations() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "create_schedule_tables",
       R"sql(
CREATE TABLE pipeline_schedules(
  id TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
  pipeline TEXT NOT NULL, arguments TEXT NOT NULL, cron TEXT NOT NULL, time_zone TEXT NOT NULL,
  experiment TEXT NOT NULL, max_concurrency BIGINT NOT NULL, catchup TEXT NOT NULL,
  max_catchup BIGINT NOT NULL, enabled BIGINT NOT NULL, watermark DOUBLE PRECISION NOT NULL,
  last_fire DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL, UNIQUE(namespace, name));
CREATE TABLE pipeline_schedule_fires(
  schedule_id TEXT NOT NULL, scheduled_time DOUBLE PRECISION NOT NULL, rowid BIGSERIAL,
  state TEXT NOT NULL,
  run_id TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', owner_host TEXT,
  owner_pid BIGINT, owner_start TEXT, fired_at DOUBLE PRECISION NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0, retry_at DOUBLE PRECISION,
  PRIMARY KEY(schedule_id, scheduled_time));
CREATE INDEX pipeline_schedule_fires_by_run ON pipeline_schedule_fires(run_id);
)sql"},
  };
  return kMigrations;
}

}  // namespace mlcore::pipeline

// Table definitions written once and rendered per dialect (store/ddl.h), and a PostgreSQL
// database created by the earlier, separately written schedule list migrating forward.
#include "mlcore/store/ddl.h"

#include "gtest/gtest.h"
#include "mlcore/pipeline/schedule.h"
#include "store/postgres_test_util.h"

namespace mlcore::store {
namespace {

TEST(RenderDdl, WritesEachDialectsTypes) {
  const std::string ddl =
      "CREATE TABLE t(id {ID}, n {INT} NOT NULL,{ROWID} x {REAL});\n"
      "--postgres CREATE INDEX t_by_rowid ON t(rowid);\n"
      "ALTER TABLE t ADD COLUMN {IF_NOT_EXISTS}y {REAL};";
  EXPECT_EQ(RenderDdl(ddl, SqlDialect::kSqlite),
            "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, x REAL);\n"
            "ALTER TABLE t ADD COLUMN y REAL;");
  EXPECT_EQ(RenderDdl(ddl, SqlDialect::kPostgres),
            "CREATE TABLE t(id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, rowid BIGSERIAL, x DOUBLE "
            "PRECISION);\n"
            "CREATE INDEX t_by_rowid ON t(rowid);\n"
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS y DOUBLE PRECISION;");
  // JSON defaults in the text stay as they are.
  EXPECT_EQ(RenderDdl("m TEXT DEFAULT '{}'", SqlDialect::kPostgres), "m TEXT DEFAULT '{}'");
}

// The schedule tables as the first PostgreSQL list created them: fires with attempts and
// retry_at in version 1.
constexpr char kEarlierPostgresSchedules[] = R"sql(
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
)sql";

TEST(RenderDdl, EarlierPostgresScheduleTablesMigrateForward) {
  MLCORE_REQUIRE_POSTGRES();
  const std::string url = testing::PgCluster::Get()->NewDatabase();
  ASSERT_FALSE(url.empty());
  auto db = OpenSqlDatabase(url);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE(
      (*db)
          ->Migrate("pipeline_schedule", {{1, "create_schedule_tables", kEarlierPostgresSchedules}})
          .ok());
  ASSERT_TRUE((*db)
                  ->Query("INSERT INTO pipeline_schedule_fires(schedule_id, scheduled_time, "
                          "state, fired_at, attempts) VALUES ('s', 1, 'fired', 2, 3)")
                  .ok());
  Status migrated = (*db)->Migrate("pipeline_schedule", pipeline::PostgresScheduleMigrations());
  ASSERT_TRUE(migrated.ok()) << migrated;
  auto rows = (*db)->Query("SELECT attempts, retry_at FROM pipeline_schedule_fires");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(std::get<int64_t>((*rows)[0][0]), 3);
}

}  // namespace
}  // namespace mlcore::store

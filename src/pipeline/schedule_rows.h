// Internal: the column lists and row conversions of the schedule tables, shared by Schedules
// (records) and Scheduler (the firing loop).
#pragma once

#include "mlcore/pipeline/schedule.h"
#include "mlcore/store/statement.h"

namespace mlcore::pipeline::internal {

inline constexpr char kScheduleInsertColumns[] =
    "id, namespace, name, kind, pipeline, arguments, cron, time_zone, experiment, "
    "max_concurrency, catchup, max_catchup, enabled, watermark, last_fire, created_at, "
    "updated_at";

inline constexpr char kScheduleSelect[] =
    "SELECT id, namespace, name, kind, pipeline, arguments, cron, time_zone, experiment, "
    "max_concurrency, catchup, max_catchup, enabled, watermark, last_fire, created_at, "
    "updated_at FROM pipeline_schedules ";

Schedule ToSchedule(const store::Row& r);
ScheduleFire ToFire(const store::Row& r);

}  // namespace mlcore::pipeline::internal

#include "pipeline/schedule_rows.h"

#include "pipeline/records.h"

namespace mlcore::pipeline::internal {

Schedule ToSchedule(const store::Row& r) {
  Schedule s;
  s.id = ValueText(r[0]);
  s.ns = ValueText(r[1]);
  s.options.name = ValueText(r[2]);
  s.options.kind = ValueText(r[3]);
  s.options.pipeline = ValueText(r[4]);
  s.options.arguments = ParseJsonOr(ValueText(r[5]), Json::object());
  s.options.cron = ValueText(r[6]);
  s.options.time_zone = ValueText(r[7]);
  s.options.experiment = ValueText(r[8]);
  s.options.max_concurrency = static_cast<int>(ValueInt(r[9]));
  s.options.catchup = ParseCatchUp(ValueText(r[10])).value_or(CatchUp::kSkip);
  s.options.max_catchup = static_cast<int>(ValueInt(r[11]));
  s.enabled = ValueInt(r[12]) != 0;
  s.watermark = OptionalTime(r[13]).value_or(absl::UnixEpoch());
  s.options.start_after = s.watermark;
  s.last_fire = OptionalTime(r[14]);
  s.created_at = OptionalTime(r[15]).value_or(absl::UnixEpoch());
  s.updated_at = OptionalTime(r[16]).value_or(absl::UnixEpoch());
  return s;
}

ScheduleFire ToFire(const store::Row& r) {
  ScheduleFire f;
  f.schedule_id = ValueText(r[0]);
  f.scheduled_time = OptionalTime(r[1]).value_or(absl::UnixEpoch());
  f.state = ValueText(r[2]);
  f.run_id = ValueText(r[3]);
  f.error = ValueText(r[4]);
  f.fired_at = OptionalTime(r[5]).value_or(absl::UnixEpoch());
  if (r.size() > 7) {
    f.attempts = static_cast<int>(ValueInt(r[6]));
    f.retry_at = OptionalTime(r[7]);
  }
  if (r.size() > 9) {
    f.lease_owner = ValueText(r[8]);
    f.lease_until = OptionalTime(r[9]);
  }
  return f;
}

}  // namespace mlcore::pipeline::internal

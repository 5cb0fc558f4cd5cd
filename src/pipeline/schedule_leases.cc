#include "pipeline/schedule_leases.h"

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "pipeline/records.h"
#include "pipeline/run_heartbeat.h"

namespace mlcore::pipeline::internal {

StatusOr<int> TakeOverExpiredLeases(store::SqlDatabase& db, const std::string& schedule_id,
                                    absl::Time now) {
  const std::string db_now = StoreNowSql(db.dialect());
  MLCORE_ASSIGN_OR_RETURN(
      auto expired,
      db.Query(absl::StrCat("SELECT f.scheduled_time, f.state, f.run_id, f.lease_owner, "
                            "f.lease_until FROM pipeline_schedule_fires f LEFT JOIN pipeline_runs "
                            "r ON r.id = f.run_id WHERE f.schedule_id = ?1 AND f.lease_until < ",
                            db_now,
                            " AND (f.state = 'claimed' OR (f.state = 'started' AND r.state IN "
                            "('pending', 'running')))"),
               {schedule_id}));
  int taken = 0;
  for (const auto& f : expired) {
    const std::string state = ValueText(f[1]);
    const std::string run_id = ValueText(f[2]);
    const std::string lapsed = absl::StrCat(
        "the scheduler ", ValueText(f[3]),
        " stopped renewing its lease on the fire (it ran out at ",
        absl::FormatTime(OptionalTime(f[4]).value_or(absl::UnixEpoch()), absl::UTCTimeZone()), ")");
    // The run may have started without its start being recorded: a lost claim is never fired
    // again, so no time fires twice.
    const std::string why = state == "claimed"
                                ? absl::StrCat(lapsed, " before recording the run's start")
                                : absl::StrCat(lapsed, " while run ", run_id, " was unfinished");
    // The lease is checked again: the owner may have renewed it since the SELECT (PostgreSQL
    // re-reads the row after waiting on the owner's update).
    MLCORE_ASSIGN_OR_RETURN(
        auto updated,
        db.Query(absl::StrCat("UPDATE pipeline_schedule_fires SET state = 'lost', error = ?3, "
                              "lease_until = NULL WHERE schedule_id = ?1 AND scheduled_time = ?2 "
                              "AND state = ?4 AND lease_until < ",
                              db_now, " RETURNING state"),
                 {schedule_id, f[0], why, state}));
    if (updated.empty()) continue;
    ++taken;
    MLCORE_LOG(Warning) << "schedule " << schedule_id << ": " << why;
    if (run_id.empty()) continue;
    const std::string interrupted = absl::StrCat("interrupted: ", why);
    MLCORE_RETURN_IF_ERROR(db.Query("UPDATE pipeline_runs SET state = 'interrupted', error = ?2, "
                                    "finished_at = ?3 WHERE id = ?1 AND state IN ('pending', "
                                    "'running')",
                                    {run_id, interrupted, ToSeconds(now)})
                               .status());
    MLCORE_RETURN_IF_ERROR(db.Query("UPDATE pipeline_tasks SET state = 'interrupted', error = ?2, "
                                    "finished_at = ?3 WHERE run_id = ?1 AND state = 'running'",
                                    {run_id, interrupted, ToSeconds(now)})
                               .status());
  }
  return taken;
}

Status RenewLeases(store::SqlDatabase& db, const std::string& owner, absl::Duration lease) {
  return db
      .Query(absl::StrCat(
                 "UPDATE pipeline_schedule_fires SET lease_until = ", StoreNowSql(db.dialect()),
                 " + ?2 WHERE lease_owner = ?1 AND lease_until IS NOT NULL AND (state = "
                 "'claimed' OR (state = 'started' AND run_id IN (SELECT id FROM "
                 "pipeline_runs WHERE state IN ('pending', 'running'))))"),
             {owner, absl::ToDoubleSeconds(lease)})
      .status();
}

}  // namespace mlcore::pipeline::internal

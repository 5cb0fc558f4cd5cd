// Internal: the leases on schedule fires (SchedulerOptions::lease). Times are the database's
// clock, so schedulers on machines whose clocks disagree still agree on when a lease runs out.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::pipeline::internal {

// Leases are stamped with the database's clock: StoreNowSql (pipeline/run_heartbeat.h).

// Inside the claim transaction of `schedule_id`: fires whose lease ran out while claimed, or
// while started with their run pending or running, are recorded "lost" (their runs
// "interrupted"), so they no longer hold a max_concurrency slot. `now`: the scheduler's clock, for
// the records' times. Returns how many fires were taken over.
StatusOr<int> TakeOverExpiredLeases(store::SqlDatabase& db, const std::string& schedule_id,
                                    absl::Time now);

// Moves the leases that `owner` holds on fires still in progress to the database's clock +
// `lease`.
Status RenewLeases(store::SqlDatabase& db, const std::string& owner, absl::Duration lease);

}  // namespace mlcore::pipeline::internal

// Internal: run heartbeats. A running pipeline's driver stamps its run's heartbeat_at with the
// store's clock (RunRecorder); a client that finds the run still "running" takes it for dead
// when its driver, on this host, is gone from the process table or, on another host (whose
// processes cannot be checked from here), has not stamped it for longer than a timeout.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "core/process_identity.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::pipeline::internal {

// An SQL expression for the store's clock in seconds since the epoch: the server's on
// PostgreSQL, so that machines with skewed clocks agree on a heartbeat's age; the local clock on
// SQLite, a one-machine store.
const char* StoreNowSql(store::SqlDialect dialect);

// Why the run owned by `owner`, last stamped at `heartbeat_at` (the store's clock, read as
// `store_now`), is dead; nullopt while it may be alive. On this host the process table decides
// (exactly: pid and start time). Elsewhere the heartbeat does: older than `timeout`, dead. A run
// without a heartbeat (recorded by an mlcore before heartbeats) counts as alive there, as before.
std::optional<std::string> OwnerGone(const mlcore::internal::ProcessIdentity& owner,
                                     std::optional<absl::Time> heartbeat_at, absl::Time store_now,
                                     absl::Duration timeout);

}  // namespace mlcore::pipeline::internal

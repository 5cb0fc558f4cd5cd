// Studies on a PostgreSQL server, shared by worker processes on many machines (see
// docs/postgres.md). OpenStorage("postgresql://...") opens one with the defaults below; the URL's
// heartbeat_interval and grace_period parameters (seconds, or "30s") override them, as the
// store's own parameters do (mlcore/store/postgres.h).
//
// Semantics, the same as the SQLite storage's: trial numbers come from a per-study counter row
// updated in the trial's own insert, so they are unique and contiguous whatever the number of
// writers; a finished trial never changes; every finished trial is visible to every sampler's
// next read. Trials of workers that died (kill -9, a lost machine) are found by heartbeats: a
// running trial's process touches it every heartbeat_interval, and one untouched for
// grace_period is stale (failed, or re-queued with requeue_stale_trials). A process on the same
// host known to be gone makes its trials stale at once.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/storage.h"
#include "mlcore/store/postgres.h"

namespace mlcore::hpo {

struct PostgresStorageOptions {
  // The store: its URL (required) and connection settings.
  store::PostgresOptions store;
  // How often a process touches the trials it runs. Default 10 s; 0 turns heartbeats off (then
  // only trials of gone processes on this host are found stale).
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // A running trial untouched this long is stale. Default 0: three heartbeat intervals.
  absl::Duration grace_period = absl::ZeroDuration();
};

// Opens the store (creating the "hpo" tables through the per-module migrations when needed).
StatusOr<std::shared_ptr<Storage>> OpenPostgresStorage(const PostgresStorageOptions& options);

// The "hpo" module's migrations on PostgreSQL.
const std::vector<store::Migration>& PostgresHpoMigrations();

}  // namespace mlcore::hpo

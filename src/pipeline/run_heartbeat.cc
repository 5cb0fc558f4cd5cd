#include "pipeline/run_heartbeat.h"

#include "absl/strings/str_cat.h"

namespace mlcore::pipeline::internal {

const char* StoreNowSql(store::SqlDialect dialect) {
  // clock_timestamp(), not now(): now() is the transaction's start, and a heartbeat written late
  // in a long transaction would look older than it is.
  return dialect == store::SqlDialect::kPostgres
             ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
             : "((julianday('now') - 2440587.5) * 86400.0)";
}

std::optional<std::string> OwnerGone(const mlcore::internal::ProcessIdentity& owner,
                                     std::optional<absl::Time> heartbeat_at, absl::Time store_now,
                                     absl::Duration timeout) {
  if (owner.host == mlcore::internal::ThisProcess().host) {
    if (mlcore::internal::IsAlive(owner)) return std::nullopt;
    return absl::StrCat("the process running it (pid ", owner.pid, " on ", owner.host,
                        ") ended before it finished");
  }
  if (!heartbeat_at.has_value()) return std::nullopt;
  const absl::Duration age = store_now - *heartbeat_at;
  if (age <= timeout) return std::nullopt;
  return absl::StrCat("the process running it (pid ", owner.pid, " on ", owner.host,
                      ") stopped its heartbeat ",
                      absl::FormatDuration(absl::Trunc(age, absl::Milliseconds(100))),
                      " ago (the timeout is ", absl::FormatDuration(timeout), ")");
}

}  // namespace mlcore::pipeline::internal

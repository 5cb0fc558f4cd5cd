// Internal helpers shared by the client (queries) and the executor (writes): time and JSON
// conversions, process identity for run ownership.
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "mlcore/pipeline/component.h"
#include "mlcore/store/statement.h"

namespace mlcore::pipeline::internal {

double ToSeconds(absl::Time t);
std::optional<absl::Time> OptionalTime(const store::Value& v);
std::string ValueText(const store::Value& v);
int64_t ValueInt(const store::Value& v);
Json ParseJsonOr(const std::string& text, Json fallback);

// Who runs a pipeline: host name, pid and the kernel's start time of that pid (so a recycled pid
// is not mistaken for the original owner).
struct ProcessIdentity {
  std::string host;
  int64_t pid = 0;
  std::string start;  // /proc/<pid>/stat field 22; empty when unknown
};
ProcessIdentity ThisProcess();
// False only when `owner` is on this host and that process (pid and start time) is gone.
bool IsAlive(const ProcessIdentity& owner);

// 32 random hex digits.
std::string NewRunId();

}  // namespace mlcore::pipeline::internal

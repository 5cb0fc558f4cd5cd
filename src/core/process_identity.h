// Which process owns a record (a running trial, a pipeline run): host name, pid and the kernel's
// start time of that pid, so that a recycled pid (or PID 1 of a restarted container) is not
// mistaken for the owner that died.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mlcore::internal {

struct ProcessIdentity {
  std::string host;
  int64_t pid = 0;
  std::string start;  // /proc/<pid>/stat field 22 (clock ticks after boot); empty when unknown
};

// This process, cached per pid (a forked child gets its own identity).
ProcessIdentity ThisProcess();
// /proc/<pid>/stat's start time, or "" when there is no such process.
std::string ProcessStartTime(int64_t pid);
// False only when `owner` is on this host and that process (pid and, when recorded, start time)
// is gone. Owners on other hosts are assumed alive: they cannot be checked from here.
bool IsAlive(const ProcessIdentity& owner);

// "host:pid:start" for a text column; ParseOwner also reads the older "host:pid" (no start
// time, so only the pid is checked) and returns nullopt for anything else.
std::string FormatOwner(const ProcessIdentity& owner);
std::optional<ProcessIdentity> ParseOwner(std::string_view text);

}  // namespace mlcore::internal

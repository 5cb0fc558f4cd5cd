// Who runs a trial, recorded with running trials so a later process can tell trials of a live
// worker from trials orphaned by a killed one: core's ProcessIdentity as "host:pid:start".
#pragma once

#include <string>

namespace mlcore::hpo::internal {

std::string ThisProcessOwner();
// False only when `owner` names a process on this host that no longer exists (its pid is gone,
// or now belongs to a process started later), or cannot be parsed. Owners on other hosts are
// assumed alive (they cannot be checked from here).
bool OwnerAlive(const std::string& owner);

}  // namespace mlcore::hpo::internal

// Which ranks share a machine: each rank posts its host id into the store and reads everyone's.
// The gloo backend uses it to pick its path: one host, shared memory for everything; several
// hosts with several ranks each, shared memory within a host and Gloo TCP between one leader
// per host (the lowest rank there) for allreduce.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist::internal {

struct HostLayout {
  int num_hosts = 1;
  int host_index = 0;  // hosts numbered in the order of their lowest rank
  int local_rank = 0;  // position among this host's ranks (0 = the host's leader)
  int local_size = 1;
  int max_local_size = 1;
};

// "" becomes this machine's host name and boot id (two containers on one kernel with separate
// /dev/shm still fail ShmGroup's token check and fall back to TCP).
std::string ResolveHostId(const std::string& host_id);
StatusOr<HostLayout> ExchangeHosts(Store& store, int rank, int world_size,
                                   const std::string& host_id, absl::Duration timeout);

}  // namespace mlcore::dist::internal

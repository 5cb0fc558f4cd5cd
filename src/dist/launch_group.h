// The pieces of the launcher that both the fixed-size launch (launch.cc) and the elastic one
// (elastic_launch.cc) use: one start of this node's workers, watched until they all ended or
// one failed (then the others are stopped) or the cancel flag was set.
#pragma once

#include <optional>
#include <string>

#include "mlcore/dist/launch.h"

namespace mlcore::dist::internal {

// One start of the local workers.
struct Attempt {
  std::optional<Status> start_error;
  int failed_rank = -1;
  SubprocessResult failure;
  bool cancelled = false;  // o.cancel_flag was set while they ran
};

// Starts o.nproc_per_node workers with WorkerEnv(o, local_rank, port, restart) and waits.
Attempt RunGroup(const LaunchOptions& o, int port, int restart);
// A free TCP port on this host (bound to port 0 and released).
StatusOr<int> PickFreePort();
Status CheckOptions(const LaunchOptions& o);
// "mlcore launch: <line>" on stderr, whole.
void Note(const std::string& line);
// Launch for min_nodes < nnodes: rendezvous rounds (elastic_launch.cc).
StatusOr<LaunchResult> ElasticLaunch(const LaunchOptions& options);

}  // namespace mlcore::dist::internal

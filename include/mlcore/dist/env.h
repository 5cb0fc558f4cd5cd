// DistEnv is where a process learns its place in a distributed job from the environment that
// started it: torchrun or `mlcore launch` (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// GROUP_RANK, MASTER_ADDR, MASTER_PORT), the Kubeflow Training Operator's PyTorchJob (the same
// plus PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK), TFJob (TF_CONFIG) and MPIJob
// (OMPI_COMM_WORLD_*). All forms become one DistEnv, checked for consistency: WORLD_SIZE is
// compared with what the other variables imply, never assumed to count processes (older
// operators count pods in it, newer ones processes). An error names the variable and its value.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"
#include "mlcore/dist/communicator.h"

namespace mlcore::dist {

struct DistEnv {
  // Which form was read: "torchrun" (torchrun, `mlcore launch`, or anything that sets
  // LOCAL_RANK), "pytorchjob" (a PyTorchJob pod running the script itself), "env" (RANK and
  // WORLD_SIZE alone), "tf_config", "mpi", or "none" (a single process: no variable set).
  std::string source = "none";
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // rank among the processes of this node
  int local_world_size = 1;  // processes on this node
  int node_rank = 0;         // this node's index (torchrun's GROUP_RANK)
  int num_nodes = 1;
  // Rendezvous address of rank 0's store; empty/0 for a single process.
  std::string master_addr;
  int master_port = 0;
  // CPU threads this rank should use: MLCORE_NUM_THREADS when set, else the node's cores
  // divided among its local processes (at least 1), so ranks on one node do not oversubscribe.
  int num_threads = 1;
  // How many times the launcher has restarted the group (MLCORE_RESTART_COUNT or
  // TORCHELASTIC_RESTART_COUNT; 0 when unset).
  int restart_count = 0;

  bool distributed() const { return world_size > 1; }
  // "tcp://master_addr:master_port" (IPv6 addresses bracketed), or "" for a single process.
  std::string init_method() const;
};

// Returns the value of an environment variable, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process's own environment (getenv).
EnvLookup ProcessEnv();

// Reads DistEnv from `env`; `cores` is the node's usable CPU count for the thread default
// (0: this process's affinity mask). InvalidArgument naming the variable for a malformed value
// (not an integer, RANK >= WORLD_SIZE, a port outside 1..65535, bad TF_CONFIG JSON) and for
// forms that contradict each other (WORLD_SIZE neither the pods nor the processes that
// PET_NNODES x PET_NPROC_PER_NODE give; RANK and OMPI_COMM_WORLD_RANK differing);
// FailedPrecondition when a distributed job lacks the rendezvous address (MASTER_ADDR or
// MASTER_PORT), or when a pod is asked for several processes (PET_NPROC_PER_NODE > 1) but runs
// the script without a launcher.
StatusOr<DistEnv> ParseDistEnv(const EnvLookup& env, int cores = 0);

// CPU cores this process may run on (its affinity mask; hardware threads when unknown).
int UsableCores();

struct InitFromEnvOptions {
  // "gloo", "nccl" or "auto" (see InitOptions::backend).
  std::string backend = "auto";
  // How long joining waits for every rank, and each collective's default timeout.
  absl::Duration timeout = kDefaultTimeout;
};

// A process's place in its job and its communicator.
struct ProcessGroup {
  DistEnv env;
  std::shared_ptr<Communicator> comm;
};

// What a C++ program that `mlcore launch`, torchrun or the Training Operator started calls first:
// reads the environment (ParseDistEnv(ProcessEnv())), exports MLCORE_NUM_THREADS as this rank's
// share of the cores unless it is set (effective while the CPU pool is unused), and joins the
// group at the environment's tcp:// address. A process with no distributed variables gets a
// group of one (no network). Errors: ParseDistEnv's, then InitProcessGroup's (a rank that cannot
// reach rank 0 within the timeout, ranks disagreeing on the world size).
StatusOr<ProcessGroup> InitFromEnv(const InitFromEnvOptions& options = {});

}  // namespace mlcore::dist

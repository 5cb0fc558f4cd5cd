// The launcher behind `mlcore launch`: starts one worker process per local rank with the
// environment torchrun gives its workers (so a script written for torchrun, or for mlcore's
// InitFromEnv, runs unchanged), prefixes each output line with its rank, and treats the group as
// one unit: when a worker fails, the others are stopped (SIGTERM, then SIGKILL after a grace
// period) and the launch fails naming the first rank that failed and how. With max_restarts the
// whole group is started again, with MLCORE_RESTART_COUNT / TORCHELASTIC_RESTART_COUNT raised,
// so a script that resumes from its last checkpoint continues where it left off.
//
// Several nodes: run one launcher per node with the same nnodes, master address and port and
// its own node_rank. Each launcher restarts only its own workers; the other nodes' workers see
// their collectives time out, fail and are restarted by their own launchers.
//
// Elastic (min_nodes < nnodes, torchrun's --nnodes MIN:MAX): the launchers meet in rounds at a
// rendezvous store (rdzv_endpoint, hosted by the launcher on that host); a round closes when
// nnodes launchers joined, or min_nodes did and rdzv_last_call passed with no more, and its
// members get node ranks in join order and a world size of members x nproc_per_node. When a
// node's workers fail, or a launcher arrives after the round closed, the round number goes up:
// every launcher stops its workers and joins the next round, so a node that left is dropped and
// one that came is taken in, and the workers start again (from their last checkpoint) with the
// new ranks and world size. Only failures count against max_restarts. The store lives in the
// launcher at the endpoint: that node leaving ends the job (as with torchrun's c10d backend).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/core/subprocess.h"

namespace mlcore::dist {

struct LaunchOptions {
  // The worker's argv (e.g. {"python3", "-u", "train.py", "--lr", "0.1"}); every worker runs it.
  std::vector<std::string> command;
  int nproc_per_node = 1;  // workers started on this node (>= 1)
  int nnodes = 1;          // nodes in the job (>= 1)
  int node_rank = 0;       // this node's index in [0, nnodes)
  // Rank 0's address; 127.0.0.1 suits one node.
  std::string master_addr = "127.0.0.1";
  // Rank 0's store port. 0: a free port is picked (one node only; several nodes must agree on
  // one, so there it is required).
  int master_port = 0;
  // How often the group is started again after a failure. Each restart costs the work since the
  // script's last checkpoint; 0 (the default) fails at the first failure.
  int max_restarts = 0;
  // How long the remaining workers get between SIGTERM and SIGKILL when one failed or the launch
  // was cancelled. Longer lets them flush logs; shorter frees the node sooner.
  absl::Duration stop_grace = absl::Seconds(5);
  // CPU threads per worker, exported as MLCORE_NUM_THREADS and OMP_NUM_THREADS unless this
  // process's environment sets them. 0: the node's usable cores divided by nproc_per_node.
  int threads_per_worker = 0;
  // Added to every worker's environment (wins over the launcher's own variables).
  std::map<std::string, std::string> env;
  // Each worker output line, with its global rank; null: written to this process's stdout or
  // stderr as "[rank N] line", whole lines only, so ranks never interleave within a line.
  std::function<void(int rank, std::string_view line, bool is_stderr)> on_line;
  // Polled while workers run; true stops the group (the launch then returns cancelled).
  const std::atomic<bool>* cancel_flag = nullptr;

  // Elastic membership (see above): 0 (the default) or nnodes is a fixed-size group; 1 <=
  // min_nodes < nnodes lets the group run with any node count in [min_nodes, nnodes].
  int min_nodes = 0;
  // "host:port" of the rendezvous store; "" uses master_addr:master_port.
  std::string rdzv_endpoint = "";
  // Names the job in the store, so jobs sharing one endpoint do not meet.
  std::string rdzv_id = "default";
  // How long a round stays open for more nodes once min_nodes joined. Longer gathers nodes that
  // start slowly into one round; shorter starts training sooner.
  absl::Duration rdzv_last_call = absl::Seconds(5);
  // How long a launcher waits for a round to form (min_nodes present) before giving up.
  absl::Duration rdzv_timeout = absl::Seconds(600);
  // The address this node's workers are reached at when one of them is rank 0. "": 127.0.0.1
  // when the rendezvous endpoint is a loopback address, this host's name otherwise.
  std::string local_addr = "";
};

struct LaunchResult {
  bool ok = false;         // every worker of the last attempt exited with status 0
  bool cancelled = false;  // stopped through cancel_flag
  int restarts = 0;        // group restarts performed (after failures)
  int rounds = 1;          // elastic: rendezvous rounds this launcher took part in
  int world_size = 0;      // workers in the last attempt's group, all nodes
  int master_port = 0;     // the port the last attempt used
  // The first worker that failed in the last attempt (global rank), and how it ended.
  int failed_rank = -1;
  SubprocessResult failure;
  // "rank 1 exited with status 3", "rank 0 was killed by signal 9 (Killed)", "cancelled", or
  // "all 4 workers succeeded".
  std::string Describe() const;
  // The launcher's exit status: 0 on success; the failed rank's exit status when it exited
  // non-zero; 128 + signal when it was killed; 130 when cancelled.
  int ExitCode() const;
};

// Runs the group to completion (with restarts; elastic rounds when min_nodes < nnodes).
// InvalidArgument naming the field for bad options (empty command, node_rank outside [0,
// nnodes), nnodes > 1 without a master_port, a port outside 1..65535, min_nodes outside
// [1, nnodes]); Unavailable / DeadlineExceeded when the rendezvous store cannot be reached or no
// round forms within rdzv_timeout; Unavailable when no free port can be found; NotFound when the
// worker program cannot be started. A worker that fails is a LaunchResult, not an error.
StatusOr<LaunchResult> Launch(const LaunchOptions& options);

// The environment Launch gives the worker with `local_rank` (MASTER_ADDR, MASTER_PORT, RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, GROUP_WORLD_SIZE, ROLE_RANK,
// ROLE_WORLD_SIZE, ROLE_NAME, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS,
// TORCHELASTIC_RUN_ID, MLCORE_RESTART_COUNT, MLCORE_NUM_THREADS, OMP_NUM_THREADS,
// PYTHONUNBUFFERED), before `options.env` is applied.
std::map<std::string, std::string> WorkerEnv(const LaunchOptions& options, int local_rank,
                                             int master_port, int restart_count);

}  // namespace mlcore::dist

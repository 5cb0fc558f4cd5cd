// The local worker group of `mlcore launch` (see launch.h). Each worker is started and waited
// for on its own thread (core's Subprocess ties a child's life to the thread that started it);
// the calling thread watches the group and stops it at the first failure or a cancel.
#include "mlcore/dist/launch.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dist/launch_group.h"
#include "mlcore/dist/env.h"

namespace mlcore::dist {
namespace internal {

// A free TCP port on this host: bound to port 0 and released, so the workers' store can take
// it. Another process may grab it in between; the store then fails to listen and the group
// fails (and restarts, with max_restarts).
StatusOr<int> PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("launch: cannot create a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) return absl::UnavailableError("launch: no free TCP port for the rendezvous store");
  return static_cast<int>(ntohs(addr.sin_port));
}

Status CheckOptions(const LaunchOptions& o) {
  if (o.command.empty()) return absl::InvalidArgumentError("launch: no command to run");
  if (o.nproc_per_node < 1) {
    return absl::InvalidArgumentError("launch: nproc_per_node must be >= 1, got " +
                                      std::to_string(o.nproc_per_node));
  }
  if (o.nnodes < 1) {
    return absl::InvalidArgumentError("launch: nnodes must be >= 1, got " +
                                      std::to_string(o.nnodes));
  }
  if (o.node_rank < 0 || o.node_rank >= o.nnodes) {
    return absl::InvalidArgumentError("launch: node_rank " + std::to_string(o.node_rank) +
                                      " is outside [0, nnodes=" + std::to_string(o.nnodes) + ")");
  }
  if (o.master_port < 0 || o.master_port > 65535) {
    return absl::InvalidArgumentError("launch: master_port " + std::to_string(o.master_port) +
                                      " is not a port number");
  }
  if (o.nnodes > 1 && o.master_port == 0 && o.rdzv_endpoint.empty()) {
    return absl::InvalidArgumentError(
        "launch: several nodes must agree on the master port; give master_port (or, elastic, "
        "rdzv_endpoint)");
  }
  if (o.master_addr.empty()) return absl::InvalidArgumentError("launch: master_addr is empty");
  if (o.max_restarts < 0) return absl::InvalidArgumentError("launch: max_restarts must be >= 0");
  if (o.min_nodes < 0 || o.min_nodes > o.nnodes) {
    return absl::InvalidArgumentError("launch: min_nodes " + std::to_string(o.min_nodes) +
                                      " is outside [1, nnodes=" + std::to_string(o.nnodes) + "]");
  }
  return absl::OkStatus();
}

// One lock for all of the launcher's output, so lines of different ranks never interleave.
std::mutex& OutputMutex() {
  static std::mutex mu;
  return mu;
}

void PrintLine(int rank, std::string_view line, bool is_stderr) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  FILE* out = is_stderr ? stderr : stdout;
  std::fprintf(out, "[rank %d] %.*s\n", rank, static_cast<int>(line.size()), line.data());
  std::fflush(out);
}

void Note(const std::string& line) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fprintf(stderr, "mlcore launch: %s\n", line.c_str());
  std::fflush(stderr);
}

// The group's shared state: set by worker threads, watched by the caller.
struct Group {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> stop{false};
  int running = 0;
  Attempt attempt;
};

void RunWorker(const LaunchOptions& o, int local_rank, int port, int restart, Group& g) {
  const int rank = o.node_rank * o.nproc_per_node + local_rank;
  SubprocessOptions so;
  so.argv = o.command;
  so.env = WorkerEnv(o, local_rank, port, restart);
  for (const auto& [k, v] : o.env) so.env[k] = v;
  auto print = o.on_line ? o.on_line : PrintLine;
  so.on_stdout_line = [print, rank](std::string_view line) {
    print(rank, line, false);
    return true;
  };
  so.on_stderr_line = [print, rank](std::string_view line) {
    print(rank, line, true);
    return true;
  };
  so.kill_grace = o.stop_grace;
  so.cancel_flag = &g.stop;
  StatusOr<SubprocessResult> result = [&]() -> StatusOr<SubprocessResult> {
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Subprocess> child, Subprocess::Start(std::move(so)));
    return child->Wait();
  }();
  std::lock_guard<std::mutex> lock(g.mu);
  --g.running;
  if (!result.ok()) {
    if (!g.attempt.start_error) {
      g.attempt.start_error =
          Status(result.status().code(),
                 absl::StrCat("launch: rank ", rank, ": ", result.status().message()));
    }
    g.stop = true;
  } else if (!result->ok() && !result->cancelled && g.attempt.failed_rank < 0 && !g.stop) {
    // The first failure: the others are stopped by the watcher, and end "cancelled".
    g.attempt.failed_rank = rank;
    g.attempt.failure = *std::move(result);
    g.stop = true;
  }
  g.cv.notify_all();
}

Attempt RunGroup(const LaunchOptions& o, int port, int restart) {
  Group g;
  g.running = o.nproc_per_node;
  std::vector<std::thread> threads;
  for (int i = 0; i < o.nproc_per_node; ++i) {
    threads.emplace_back([&o, i, port, restart, &g] { RunWorker(o, i, port, restart, g); });
  }
  {
    std::unique_lock<std::mutex> lock(g.mu);
    while (g.running > 0) {
      g.cv.wait_for(lock, std::chrono::milliseconds(50));
      if (o.cancel_flag != nullptr && o.cancel_flag->load() && !g.stop) {
        g.attempt.cancelled = true;
        g.stop = true;
      }
    }
  }
  for (std::thread& t : threads) t.join();
  return std::move(g.attempt);
}

}  // namespace internal

using internal::Attempt;
using internal::CheckOptions;
using internal::Note;
using internal::PickFreePort;
using internal::RunGroup;

std::map<std::string, std::string> WorkerEnv(const LaunchOptions& o, int local_rank,
                                             int master_port, int restart_count) {
  const int world = o.nnodes * o.nproc_per_node;
  const int rank = o.node_rank * o.nproc_per_node + local_rank;
  int threads = o.threads_per_worker;
  if (threads <= 0) threads = std::max(1, UsableCores() / o.nproc_per_node);
  std::map<std::string, std::string> env = {
      {"MASTER_ADDR", o.master_addr},
      {"MASTER_PORT", std::to_string(master_port)},
      {"RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(world)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node)},
      {"GROUP_RANK", std::to_string(o.node_rank)},
      {"GROUP_WORLD_SIZE", std::to_string(o.nnodes)},
      {"ROLE_NAME", "default"},
      {"ROLE_RANK", std::to_string(rank)},
      {"ROLE_WORLD_SIZE", std::to_string(world)},
      {"TORCHELASTIC_RESTART_COUNT", std::to_string(restart_count)},
      {"TORCHELASTIC_MAX_RESTARTS", std::to_string(o.max_restarts)},
      {"TORCHELASTIC_RUN_ID", "mlcore-" + o.master_addr + "-" + std::to_string(master_port)},
      {"MLCORE_RESTART_COUNT", std::to_string(restart_count)},
      // Lines reach the launcher as they are printed, not when a buffer fills.
      {"PYTHONUNBUFFERED", "1"},
  };
  // The user's own thread settings win; otherwise each worker gets its share of the cores.
  for (const char* name : {"MLCORE_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* mine = std::getenv(name);
    env[name] = (mine != nullptr && *mine != '\0') ? std::string(mine) : std::to_string(threads);
  }
  return env;
}

std::string LaunchResult::Describe() const {
  if (ok) return "all workers succeeded";
  if (cancelled) return "cancelled";
  if (failed_rank >= 0) {
    std::string how = failure.Describe();
    if (failure.term_signal != 0) how = "was " + how;
    return absl::StrCat("rank ", failed_rank, " ", how);
  }
  return "failed";
}

int LaunchResult::ExitCode() const {
  if (ok) return 0;
  if (cancelled) return 130;
  if (failure.term_signal != 0) return 128 + failure.term_signal;
  if (failure.exit_code > 0) return failure.exit_code;
  return 1;
}

StatusOr<LaunchResult> Launch(const LaunchOptions& options) {
  MLCORE_RETURN_IF_ERROR(CheckOptions(options));
  if (options.min_nodes > 0 && options.min_nodes < options.nnodes) {
    return internal::ElasticLaunch(options);
  }
  LaunchResult result;
  result.world_size = options.nnodes * options.nproc_per_node;
  for (int restart = 0;; ++restart) {
    int port = options.master_port;
    if (port == 0) {
      MLCORE_ASSIGN_OR_RETURN(port, PickFreePort());
    }
    Attempt a = RunGroup(options, port, restart);
    if (a.start_error) return *a.start_error;
    result.restarts = restart;
    result.master_port = port;
    result.cancelled = a.cancelled;
    result.failed_rank = a.failed_rank;
    result.failure = std::move(a.failure);
    result.ok = !a.cancelled && a.failed_rank < 0;
    if (result.ok || result.cancelled || restart >= options.max_restarts) return result;
    Note(absl::StrCat(result.Describe(), "; restarting the group (", restart + 1, " of ",
                      options.max_restarts, ")"));
  }
}

}  // namespace mlcore::dist

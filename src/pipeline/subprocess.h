// Runs a command line as a child process in its own process group, with stdout and stderr
// appended to log files and a timeout that kills the whole group (the command's own children
// too), so a hung or crashed step cannot outlive its task or take the executor down.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore::pipeline::internal {

struct SubprocessOptions {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (or replacing in) this process's environment
  std::string cwd;
  std::string stdout_path;
  std::string stderr_path;
  absl::Duration timeout = absl::InfiniteDuration();
  const std::atomic<bool>* cancelled = nullptr;
};

// OK when the command exits 0. Otherwise: Unavailable "exited with status N" / "killed by
// signal S (name)", DeadlineExceeded "timed out after T", Cancelled, or NotFound when the program
// cannot be started. Messages end with the tail of the stderr log when it has one.
Status RunSubprocess(const SubprocessOptions& options);

}  // namespace mlcore::pipeline::internal

// Runs a program as a child process: argv (no shell unless the caller builds one with
// ShellCommand), its own process group, an environment merged from this process's, a timeout
// and a cancel that stop the whole group (SIGTERM, then SIGKILL after a grace period), and its
// output as lines to a callback or appended to files. Pipelines' command steps, HPO's command
// trials and the distributed launcher all start their processes here.
//
// Many children may run at once, each waited for on its own thread (a ThreadPool's, say): the
// runner waits for its own pid only (a pidfd where the kernel has one), installs no SIGCHLD
// handler and touches no process-wide state, so it never steals another user's child.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore {

// Called with each line a child writes, without its '\n' (a last line without one is passed at
// the end). Return false to stop the child: the run then ends as if cancelled. Called on the
// thread that waits for the child, never on two threads at once for one child.
using LineCallback = std::function<bool(std::string_view line)>;

struct SubprocessOptions {
  // The program and its arguments; argv[0] without a '/' is looked up on the PATH of the child's
  // environment. No shell: use ShellCommand() when one is wanted.
  std::vector<std::string> argv;
  // Working directory of the child; empty: this process's.
  std::string working_dir;
  // The child's environment: this process's (when inherit_env), minus `unset_env`, plus `env`
  // (which wins over inherited values). One entry per name.
  bool inherit_env = true;
  std::map<std::string, std::string> env;
  std::vector<std::string> unset_env;
  // The child's stdin. Default /dev/null, so a child that reads stdin cannot steal a terminal or
  // a notebook's input; empty: inherit this process's.
  std::string stdin_path = "/dev/null";
  // Where each output stream goes. A callback gets each line (through a pipe); a path gets the
  // bytes appended (the child writes the file itself when there is no callback). With both, the
  // runner appends to the file what it passes to the callback. With neither, the stream goes
  // where this process's goes (stderr then passes through the runner, for its tail).
  LineCallback on_stdout_line;
  LineCallback on_stderr_line;
  std::string stdout_path;
  std::string stderr_path;
  // A line longer than this is passed in pieces of this size, so a child that never writes a
  // newline cannot make the runner hold unbounded memory.
  size_t max_line_bytes = 1 << 20;
  // How much of the end of stderr SubprocessResult::stderr_tail keeps (from the pipe or the
  // file). 0: none.
  size_t stderr_tail_bytes = 2000;
  // Past this the child's process group gets SIGTERM, then SIGKILL after kill_grace. Infinite:
  // no limit.
  absl::Duration timeout = absl::InfiniteDuration();
  // How long a group told to stop (timeout, cancel, a callback's false) has between SIGTERM and
  // SIGKILL. Longer lets a child flush and clean up; shorter stops a child that ignores SIGTERM
  // sooner. Zero: SIGKILL at once.
  absl::Duration kill_grace = absl::Seconds(5);
  // Polled (at least every 50 ms) while the child runs; true stops it like Subprocess::Cancel.
  // Lets one flag cancel many children (every task of a pipeline run). Null: none.
  const std::atomic<bool>* cancel_flag = nullptr;
  // The child is killed (SIGKILL) when the thread that started it dies, which with Run/Wait on
  // one thread means when this process dies, even by kill -9 (PR_SET_PDEATHSIG). Turn off only
  // for a child meant to outlive its driver.
  bool die_with_parent = true;
  // When the child exits, whatever is left in its process group (a command's background jobs)
  // is killed too, so nothing outlives the step that started it.
  bool kill_group_on_exit = true;
};

struct SubprocessResult {
  int exit_code = -1;      // the exit status when the child exited, else -1
  int term_signal = 0;     // the signal that killed the child, else 0
  bool timed_out = false;  // stopped by the timeout
  bool cancelled = false;  // stopped by Cancel, cancel_flag or a line callback's false
  // The end of what the child wrote to stderr (see stderr_tail_bytes); truncated says whether
  // bytes before it were dropped.
  std::string stderr_tail;
  bool stderr_tail_truncated = false;

  // Exited with status 0 and was not stopped.
  bool ok() const { return exit_code == 0 && !timed_out && !cancelled; }
  // "exited with status 3", "killed by signal 9 (Killed)", "timed out", "cancelled".
  std::string Describe() const;
};

// A started child. Wait() pumps its output, enforces the timeout and reaps it; Cancel() may be
// called from any thread. Destroying a child that was not waited for kills its group and reaps
// it. Start and Wait on the same thread (see die_with_parent).
class Subprocess {
 public:
  // NotFound when the program cannot be found or executed (the message names it and why);
  // InvalidArgument for an empty argv; Internal when the system refuses a pipe or a process.
  static StatusOr<std::unique_ptr<Subprocess>> Start(SubprocessOptions options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const;
  // Asks the child's group to stop (SIGTERM, then SIGKILL after kill_grace); Wait then returns
  // with cancelled set. Thread-safe, returns at once, idempotent.
  void Cancel();
  // Blocks until the child has exited and its output has been passed on. Call once.
  StatusOr<SubprocessResult> Wait();

  struct State;

 private:
  explicit Subprocess(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Start + Wait: the common case.
StatusOr<SubprocessResult> RunSubprocess(SubprocessOptions options);

// argv running `command` with /bin/sh -c, for callers whose users write shell command lines.
std::vector<std::string> ShellCommand(std::string command);

}  // namespace mlcore

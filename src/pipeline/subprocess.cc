#include "pipeline/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace mlcore::pipeline::internal {
namespace {

std::string Tail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - max_bytes : 0;
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string WithTail(std::string message, const std::string& stderr_path) {
  std::string tail = Tail(stderr_path);
  if (!tail.empty()) absl::StrAppend(&message, "; stderr ends with:\n", tail);
  return message;
}

}  // namespace

Status RunSubprocess(const SubprocessOptions& o) {
  if (o.argv.empty()) return absl::InvalidArgumentError("empty command line");
  std::vector<std::string> env_strings;
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : o.env) env[k] = v;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = o.argv;
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (!o.stdout_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, o.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  if (!o.stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, o.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, o.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so that a timeout can kill the command's children as well. Signals
  // the executor ignores or blocks are reset to their defaults in the child.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot start '", o.argv[0], "': ", strerror(rc)));
  }

  const absl::Time deadline =
      o.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + o.timeout;
  absl::Duration nap = absl::Microseconds(200);
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
    }
    bool cancelled = o.cancelled != nullptr && o.cancelled->load();
    if (absl::Now() >= deadline || cancelled) {
      ::kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (cancelled) return absl::CancelledError("cancelled; its process group was killed");
      return absl::DeadlineExceededError(
          WithTail(absl::StrCat("timed out after ", absl::FormatDuration(o.timeout),
                                "; its process group was killed"),
                   o.stderr_path));
    }
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(nap));
    nap = std::min(nap * 2, absl::Milliseconds(20));
  }
  // Leftover children in the group (a daemonized grandchild) do not outlive the task.
  ::kill(-pid, SIGKILL);
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    if (code == 0) return absl::OkStatus();
    return absl::UnavailableError(
        WithTail(absl::StrCat("exited with status ", code), o.stderr_path));
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return absl::UnavailableError(
        WithTail(absl::StrCat("killed by signal ", sig, " (", strsignal(sig), ")"), o.stderr_path));
  }
  return absl::UnavailableError("ended abnormally");
}

}  // namespace mlcore::pipeline::internal

#include "mlcore/core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/strings.h"

extern char** environ;

namespace mlcore {
namespace {

using internal::AV;

// How often the wait loop looks at cancel_flag, and at the child where there is no pidfd.
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

std::string Errno(int err) { return strerror(err); }

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::map<std::string, std::string> MergedEnvironment(const SubprocessOptions& o) {
  std::map<std::string, std::string> env;
  if (o.inherit_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      size_t eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
  }
  for (const std::string& name : o.unset_env) env.erase(name);
  for (const auto& [k, v] : o.env) env[k] = v;
  return env;
}

// The file execve will run: argv[0] itself when it names a path, else the first executable
// match on `path_var` (the child's PATH), as a shell would find it.
StatusOr<std::string> ResolveProgram(const std::string& program, const std::string& path_var) {
  if (program.find('/') != std::string::npos) return program;
  int last_error = ENOENT;
  for (absl::string_view dir : absl::StrSplit(AV(path_var), ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", program);
    struct stat st;
    if (::stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    last_error = EACCES;
  }
  return absl::NotFoundError(absl::StrCat("cannot start '", program, "': ", Errno(last_error)));
}

// Everything the child does between vfork and execve, prepared by the parent: the child may
// only make system calls (it shares the parent's memory and must not allocate or lock).
struct ChildSpec {
  const char* program = nullptr;
  std::vector<char*> argv;
  std::vector<char*> envp;
  const char* cwd = nullptr;
  const char* stdin_path = nullptr;
  int fds[3] = {-1, -1, -1};  // a pipe end to dup2 onto 1 and 2 (index 1, 2)
  const char* paths[3] = {nullptr, nullptr, nullptr};  // else a file to append to
  bool die_with_parent = true;
  pid_t parent = 0;
  // The write end of a close-on-exec pipe: a failing step writes a ChildError there (a pipe,
  // not shared memory, so the report also arrives where vfork is emulated by fork, as under
  // the sanitizers); a successful execve closes it.
  int error_fd = -1;
};

// What a child that could not start reports: errno and the step (a pointer into the parent's
// memory: the child is the parent's image until execve).
struct ChildError {
  int error = 0;
  const char* step = nullptr;
};

[[noreturn]] void ChildFail(ChildSpec* s, const char* step) {
  ChildError e{errno, step};
  (void)!::write(s->error_fd, &e, sizeof(e));
  _exit(127);
}

[[noreturn]] __attribute__((noinline)) void ChildExec(ChildSpec* s) {
  // Killed when the spawning thread dies; if the parent died before this line, exit now.
  if (s->die_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(s, "prctl");
    if (::getppid() != s->parent) _exit(127);
  }
  if (::setpgid(0, 0) != 0) ChildFail(s, "setpgid");
  if (s->stdin_path != nullptr) {
    int fd = ::open(s->stdin_path, O_RDONLY);
    if (fd < 0 || ::dup2(fd, 0) < 0) ChildFail(s, s->stdin_path);
    if (fd != 0) ::close(fd);
  }
  for (int i = 1; i <= 2; ++i) {
    int fd = s->fds[i];
    if (fd < 0 && s->paths[i] != nullptr) {
      fd = ::open(s->paths[i], O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0) ChildFail(s, s->paths[i]);
    }
    if (fd >= 0 && ::dup2(fd, i) < 0) ChildFail(s, "dup2");
  }
  if (s->cwd != nullptr && ::chdir(s->cwd) != 0) ChildFail(s, s->cwd);
  // Dispositions the parent set (handlers, SIG_IGN) do not carry into the program.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(s->program, s->argv.data(), s->envp.data());
  ChildFail(s, "execve");
}

}  // namespace

// One output stream of the child read through a pipe: split into lines for its callback,
// appended to its file, and its end kept as the stderr tail.
struct OutputStream {
  int fd = -1;  // the read end; -1 once at EOF
  LineCallback callback;
  int file_fd = -1;
  std::string partial;  // bytes after the last '\n'
  bool keep_tail = false;
  std::string tail;
  bool tail_truncated = false;
};

struct Subprocess::State {
  SubprocessOptions options;
  pid_t pid = -1;
  int pidfd = -1;    // readable when the child exits; -1 where the kernel has none
  int wake_fd = -1;  // eventfd written by Cancel
  OutputStream out, err;
  std::atomic<bool> cancel_requested{false};
  bool waited = false;
  // Stopping: when SIGTERM went to the group and why.
  bool stopping = false;
  absl::Time kill_at = absl::InfiniteFuture();
  bool killed = false;
  SubprocessResult result;

  ~State() {
    CloseFd(pidfd);
    CloseFd(wake_fd);
    CloseFd(out.fd);
    CloseFd(err.fd);
    CloseFd(out.file_fd);
    CloseFd(err.file_fd);
  }

  void Signal(int sig) const { ::kill(-pid, sig); }
  void Stop(bool timed_out);
  void Feed(OutputStream& s, std::string_view bytes);
  void Emit(OutputStream& s, std::string_view line);
  void ReadFrom(OutputStream& s, bool drain);
  bool Exited();
  void RunLoop();
  void Finish(int status);
};

void Subprocess::State::Stop(bool timed_out) {
  if (stopping) return;
  stopping = true;
  (timed_out ? result.timed_out : result.cancelled) = true;
  if (options.kill_grace <= absl::ZeroDuration()) {
    Signal(SIGKILL);
    killed = true;
    return;
  }
  Signal(SIGTERM);
  kill_at = absl::Now() + options.kill_grace;
}

void Subprocess::State::Emit(OutputStream& s, std::string_view line) {
  if (s.callback && !s.callback(line)) Stop(false);
}

void Subprocess::State::Feed(OutputStream& s, std::string_view bytes) {
  if (s.file_fd >= 0) {
    for (size_t done = 0; done < bytes.size();) {
      ssize_t w = ::write(s.file_fd, bytes.data() + done, bytes.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;  // a full disk loses log bytes, never the run
      done += static_cast<size_t>(w);
    }
  }
  if (s.keep_tail) {
    s.tail.append(bytes);
    const size_t keep = options.stderr_tail_bytes;
    if (s.tail.size() > 2 * keep) {
      s.tail.erase(0, s.tail.size() - keep);
      s.tail_truncated = true;
    }
  }
  if (!s.callback) return;
  s.partial.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    Emit(s, std::string_view(s.partial).substr(start, nl - start));
  }
  s.partial.erase(0, start);
  while (s.partial.size() >= options.max_line_bytes) {
    Emit(s, std::string_view(s.partial).substr(0, options.max_line_bytes));
    s.partial.erase(0, options.max_line_bytes);
  }
}

void Subprocess::State::ReadFrom(OutputStream& s, bool drain) {
  char buf[65536];
  while (s.fd >= 0) {
    ssize_t r = ::read(s.fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
      CloseFd(s.fd);
      return;
    }
    Feed(s, std::string_view(buf, static_cast<size_t>(r)));
    // While the child runs, one short read at a time lets the other stream have a turn.
    if (!drain && static_cast<size_t>(r) < sizeof(buf)) return;
  }
}

bool Subprocess::State::Exited() {
  siginfo_t info = {};
  // WNOWAIT: the exited child stays a zombie, so its pid (and group id) cannot be reused before
  // the group is killed in Finish.
  int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  return r == 0 && info.si_pid == pid;
}

void Subprocess::State::RunLoop() {
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  while (!Exited()) {
    const absl::Time now = absl::Now();
    if (!stopping) {
      bool cancel = cancel_requested.load() ||
                    (options.cancel_flag != nullptr && options.cancel_flag->load());
      if (cancel) Stop(false);
      if (!stopping && now >= deadline) Stop(true);
    }
    if (stopping && !killed && now >= kill_at) {
      Signal(SIGKILL);
      killed = true;
    }
    absl::Time wake = stopping ? (killed ? absl::InfiniteFuture() : kill_at) : deadline;
    if (pidfd < 0 || options.cancel_flag != nullptr) wake = std::min(wake, now + kPollInterval);
    pollfd fds[4] = {
        {pidfd, POLLIN, 0}, {wake_fd, POLLIN, 0}, {out.fd, POLLIN, 0}, {err.fd, POLLIN, 0}};
    int timeout_ms =
        wake == absl::InfiniteFuture()
            ? -1
            : static_cast<int>(std::clamp<int64_t>(
                  absl::ToInt64Milliseconds(absl::Ceil(wake - now, absl::Milliseconds(1))), 0,
                  60'000));
    if (::poll(fds, 4, timeout_ms) < 0 && errno != EINTR) {
      absl::SleepFor(kPollInterval);  // cannot poll: fall back to sleeping between checks
    }
    if (fds[1].revents & POLLIN) {
      uint64_t n;
      (void)!::read(wake_fd, &n, sizeof(n));
    }
    if (fds[2].revents != 0) ReadFrom(out, false);
    if (fds[3].revents != 0) ReadFrom(err, false);
  }
}

void Subprocess::State::Finish(int status) {
  for (OutputStream* s : {&out, &err}) {
    ReadFrom(*s, true);
    if (!s->partial.empty()) Emit(*s, s->partial);
    s->partial.clear();
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  if (err.keep_tail) {
    result.stderr_tail_truncated =
        err.tail_truncated || err.tail.size() > options.stderr_tail_bytes;
    if (err.tail.size() > options.stderr_tail_bytes) {
      err.tail.erase(0, err.tail.size() - options.stderr_tail_bytes);
    }
    result.stderr_tail = std::move(err.tail);
  } else if (!options.stderr_path.empty() && options.stderr_tail_bytes > 0) {
    std::ifstream in(options.stderr_path, std::ios::binary | std::ios::ate);
    std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
    std::streamoff keep = static_cast<std::streamoff>(options.stderr_tail_bytes);
    if (size > 0) {
      in.seekg(std::max<std::streamoff>(0, size - keep));
      result.stderr_tail.assign(std::istreambuf_iterator<char>(in), {});
      result.stderr_tail_truncated = size > keep;
    }
  }
}

std::string SubprocessResult::Describe() const {
  if (timed_out) return "timed out";
  if (cancelled) return "cancelled";
  if (term_signal != 0) {
    return absl::StrCat("killed by signal ", term_signal, " (", strsignal(term_signal), ")");
  }
  return absl::StrCat("exited with status ", exit_code);
}

namespace {

// Opens the pipe (or the parent-written log file) for one output stream of the child.
// `tail`: keep the stream's end (stderr's), which needs a pipe unless the child writes a file.
Status SetUpStream(const LineCallback& callback, const std::string& path, bool tail,
                   OutputStream* s, ChildSpec* spec, int index, int* child_end) {
  s->callback = callback;
  const bool piped = static_cast<bool>(callback) || (tail && path.empty());
  if (!piped) {
    if (!path.empty()) spec->paths[index] = path.c_str();
    return absl::OkStatus();
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", Errno(errno)));
  ::fcntl(p[0], F_SETFL, O_NONBLOCK);
  s->fd = p[0];
  *child_end = p[1];
  spec->fds[index] = p[1];
  s->keep_tail = tail;
  if (!path.empty()) {
    s->file_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->file_fd < 0) {
      return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", Errno(errno)));
    }
  } else if (!callback) {
    // Read only for its tail: what the child writes still reaches this process's stream.
    s->file_fd = ::fcntl(index, F_DUPFD_CLOEXEC, 3);
  }
  return absl::OkStatus();
}

// vfork + execve with every signal blocked around it, as posix_spawn does, so that no handler of
// this process runs in the child while they share memory.
Status Spawn(ChildSpec* spec, pid_t* pid) {
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", Errno(errno)));
  }
  spec->error_fd = error_pipe[1];
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  spec->parent = ::getpid();
  pid_t child = ::vfork();
  if (child == 0) ChildExec(spec);
  int spawn_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(error_pipe[1]);
  if (child < 0) {
    ::close(error_pipe[0]);
    return absl::InternalError(absl::StrCat("vfork: ", Errno(spawn_errno)));
  }
  *pid = child;
  ChildError e;
  ssize_t n;
  while ((n = ::read(error_pipe[0], &e, sizeof(e))) < 0 && errno == EINTR) {
  }
  ::close(error_pipe[0]);
  if (n != static_cast<ssize_t>(sizeof(e))) return absl::OkStatus();  // execve closed the pipe
  int status;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string step = e.step;
  return absl::NotFoundError(absl::StrCat("cannot start '", spec->argv[0], "'",
                                          step == "execve" ? "" : absl::StrCat(" (", step, ")"),
                                          ": ", Errno(e.error)));
}

}  // namespace

StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(SubprocessOptions options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty command line");
  auto state = std::make_unique<State>();
  State& st = *state;
  st.options = std::move(options);
  const SubprocessOptions& o = st.options;

  std::map<std::string, std::string> env = MergedEnvironment(o);
  auto path_var = env.find("PATH");
  MLCORE_ASSIGN_OR_RETURN(
      std::string program,
      ResolveProgram(o.argv[0], path_var == env.end() ? "/usr/bin:/bin" : path_var->second));
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<std::string> args = o.argv;

  ChildSpec spec;
  spec.program = program.c_str();
  for (std::string& a : args) spec.argv.push_back(a.data());
  spec.argv.push_back(nullptr);
  for (std::string& e : env_strings) spec.envp.push_back(e.data());
  spec.envp.push_back(nullptr);
  spec.cwd = o.working_dir.empty() ? nullptr : o.working_dir.c_str();
  spec.stdin_path = o.stdin_path.empty() ? nullptr : o.stdin_path.c_str();
  spec.die_with_parent = o.die_with_parent;

  int child_ends[3] = {-1, -1, -1};
  auto close_child_ends = [&] {
    for (int& fd : child_ends) CloseFd(fd);
  };
  Status ok =
      SetUpStream(o.on_stdout_line, o.stdout_path, false, &st.out, &spec, 1, &child_ends[1]);
  if (ok.ok()) {
    ok = SetUpStream(o.on_stderr_line, o.stderr_path, o.stderr_tail_bytes > 0, &st.err, &spec, 2,
                     &child_ends[2]);
  }
  if (ok.ok()) {
    st.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (st.wake_fd < 0) ok = absl::InternalError(absl::StrCat("eventfd: ", Errno(errno)));
  }
  if (ok.ok()) ok = Spawn(&spec, &st.pid);
  close_child_ends();
  if (!ok.ok()) return ok;
#ifdef SYS_pidfd_open
  st.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, st.pid, 0));
#endif
  return std::unique_ptr<Subprocess>(new Subprocess(std::move(state)));
}

Subprocess::Subprocess(std::unique_ptr<State> state) : state_(std::move(state)) {}

Subprocess::~Subprocess() {
  if (state_ == nullptr || state_->waited) return;
  state_->Signal(SIGKILL);
  int status;
  while (::waitpid(state_->pid, &status, 0) < 0 && errno == EINTR) {
  }
}

pid_t Subprocess::pid() const { return state_->pid; }

void Subprocess::Cancel() {
  state_->cancel_requested = true;
  uint64_t one = 1;
  (void)!::write(state_->wake_fd, &one, sizeof(one));
}

StatusOr<SubprocessResult> Subprocess::Wait() {
  State& st = *state_;
  if (st.waited) return absl::FailedPreconditionError("Wait was already called");
  st.RunLoop();
  // The child is a zombie now; kill what is left of its group before reaping it.
  if (st.options.kill_group_on_exit || st.stopping) st.Signal(SIGKILL);
  int status = 0;
  while (::waitpid(st.pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", Errno(errno)));
  }
  st.waited = true;
  st.Finish(status);
  return st.result;
}

StatusOr<SubprocessResult> RunSubprocess(SubprocessOptions options) {
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Subprocess> child, Subprocess::Start(std::move(options)));
  return child->Wait();
}

std::vector<std::string> ShellCommand(std::string command) {
  return {"/bin/sh", "-c", std::move(command)};
}

}  // namespace mlcore

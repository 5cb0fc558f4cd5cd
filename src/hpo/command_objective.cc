#include "mlcore/hpo/command_objective.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace mlcore::hpo {
namespace {

using internal::AV;

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/' ||
         c == '.';
}

struct ProcessResult {
  int wait_status = 0;
  bool timed_out = false;
  bool pruned = false;
  std::string stderr_tail;
};

std::string Tail(const std::string& s, size_t n = 400) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// Runs `command` in its own process group; feeds each stdout line to on_line, which may ask to
// stop the process (pruning) by returning false.
StatusOr<ProcessResult> Run(const std::string& command, const CommandObjectiveOptions& options,
                            int64_t trial_number,
                            const std::map<std::string, std::string>& trial_env,
                            const std::function<bool(std::string_view)>& on_line) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  // One entry per name, later sources winning: the inherited environment, the options' env,
  // then what the trial holds (getenv in the child would read the first of duplicates).
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [k, v] : options.env) env[k] = v;
  env["MLCORE_TRIAL_NUMBER"] = absl::StrCat(trial_number);
  for (const auto& [k, v] : trial_env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return absl::InternalError(absl::StrCat("could not start /bin/sh: ", std::strerror(rc)));
  }

  ProcessResult result;
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  std::string line_buffer, err;
  bool out_open = true, err_open = true, killed = false;
  auto kill_group = [&]() {
    if (!killed) ::kill(-pid, SIGKILL);
    killed = true;
  };
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    int wait_ms = 100;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration() && !killed) {
        result.timed_out = true;
        kill_group();
      }
      wait_ms = static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(left), 1, 100));
    }
    int n = ::poll(fds, 2, wait_ms);
    if (n < 0 && errno != EINTR) break;
    char buf[4096];
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = ::read(out_pipe[0], buf, sizeof(buf));
      if (r <= 0) {
        out_open = false;
      } else {
        line_buffer.append(buf, static_cast<size_t>(r));
        size_t pos;
        while ((pos = line_buffer.find('\n')) != std::string::npos) {
          std::string line = line_buffer.substr(0, pos);
          line_buffer.erase(0, pos + 1);
          if (!killed && !on_line(line)) {
            result.pruned = true;
            kill_group();
          }
        }
      }
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = ::read(err_pipe[0], buf, sizeof(buf));
      if (r <= 0) {
        err_open = false;
      } else {
        err.append(buf, static_cast<size_t>(r));
        if (err.size() > 64 * 1024) err.erase(0, err.size() - 16 * 1024);
      }
    }
  }
  if (!line_buffer.empty() && !killed) on_line(line_buffer);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  // The shell may exit while a grandchild holds the pipes; the group kill above covers the
  // timeout, here we just reap the shell.
  while (::waitpid(pid, &result.wait_status, 0) < 0 && errno == EINTR) {
  }
  result.stderr_tail = Tail(err);
  return result;
}

// What a trial holds, as its process sees it: its GPUs (and only those) and its CPU count.
std::map<std::string, std::string> TrialEnvironment(const Trial& trial) {
  std::map<std::string, std::string> env;
  if (!trial.devices().empty()) env["CUDA_VISIBLE_DEVICES"] = trial.cuda_visible_devices();
  if (trial.cpus() > 0) {
    env["MLCORE_TRIAL_CPUS"] = absl::StrCat(trial.cpus());
    env["OMP_NUM_THREADS"] = absl::StrCat(trial.cpus());
  }
  return env;
}

}  // namespace

std::vector<std::pair<std::string, double>> ParseTextMetrics(std::string_view line) {
  std::vector<std::pair<std::string, double>> out;
  for (size_t eq = line.find('='); eq != std::string_view::npos; eq = line.find('=', eq + 1)) {
    size_t name_end = eq;
    while (name_end > 0 && line[name_end - 1] == ' ') --name_end;
    size_t name_start = name_end;
    while (name_start > 0 && IsNameChar(line[name_start - 1])) --name_start;
    if (name_start == name_end) continue;
    size_t v = eq + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    size_t v_end = v;
    while (v_end < line.size() && !std::isspace(static_cast<unsigned char>(line[v_end])) &&
           line[v_end] != ',' && line[v_end] != ';') {
      ++v_end;
    }
    double value;
    std::string token(line.substr(v, v_end - v));
    if (!token.empty() && absl::SimpleAtod(AV(token), &value)) {
      out.emplace_back(std::string(line.substr(name_start, name_end - name_start)), value);
    }
  }
  return out;
}

std::vector<std::pair<std::string, double>> ParseJsonMetrics(std::string_view line) {
  std::vector<std::pair<std::string, double>> out;
  auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_number()) out.emplace_back(it.key(), it.value().get<double>());
  }
  return out;
}

StatusOr<std::string> FormatCommand(std::string_view tpl,
                                    const std::map<std::string, ParamValue>& params,
                                    int64_t trial_number) {
  std::string out;
  for (size_t i = 0; i < tpl.size();) {
    bool katib = tpl.compare(i, 2, "${") == 0;
    if (tpl[i] != '{' && !katib) {
      out.push_back(tpl[i++]);
      continue;
    }
    size_t open = katib ? i + 2 : i + 1;
    size_t close = tpl.find('}', open);
    if (close == std::string_view::npos) {
      out.append(tpl.substr(i));
      break;
    }
    std::string name(tpl.substr(open, close - open));
    // Only {identifier} is a placeholder, so JSON or shell braces pass through unchanged.
    bool identifier = !name.empty();
    for (char c : name)
      identifier &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    if (!identifier) {
      out.push_back(tpl[i++]);
      continue;
    }
    constexpr std::string_view kPrefix = "trialParameters.";
    if (katib && name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
    if (name == "trial_number") {
      absl::StrAppend(&out, trial_number);
    } else {
      auto it = params.find(name);
      if (it == params.end()) {
        return absl::InvalidArgumentError(absl::StrCat("command template placeholder '",
                                                       std::string(tpl.substr(i, close - i + 1)),
                                                       "' names no parameter of the space"));
      }
      out.append(ParamValueToString(it->second));
    }
    i = close + 1;
  }
  return out;
}

namespace {

Status CheckCommandOptions(const CommandObjectiveOptions& options, const SearchSpace& space) {
  if (options.command_template.empty()) {
    return absl::InvalidArgumentError("the command template is empty");
  }
  // Check the placeholders now, with every parameter present.
  std::map<std::string, ParamValue> probe;
  for (const SearchSpace::Param& p : space.params()) probe[p.name] = p.distribution.ToExternal(0);
  MLCORE_RETURN_IF_ERROR(FormatCommand(options.command_template, probe, 0).status());
  if (!options.metrics_file.empty()) {
    MLCORE_RETURN_IF_ERROR(FormatCommand(options.metrics_file, probe, 0).status());
  }
  return absl::OkStatus();
}

// One trial: suggests the space, runs the command and returns the last value of each of
// `metrics`, in order. Every value of the first metric is an intermediate value.
StatusOr<std::vector<double>> RunCommandTrial(const CommandObjectiveOptions& options,
                                              const SearchSpace& space,
                                              const std::vector<std::string>& metrics,
                                              Trial& trial) {
  for (const SearchSpace::Param& p : space.params()) {
    if (p.condition.has_value()) {
      auto params = trial.params();
      auto parent = params.find(p.condition->parent);
      if (parent == params.end()) continue;
      bool on = false;
      for (const ParamValue& v : p.condition->values) on |= v == parent->second;
      if (!on) continue;
    }
    MLCORE_RETURN_IF_ERROR(trial.Suggest(p.name, p.distribution).status());
  }
  std::map<std::string, ParamValue> params = trial.params();
  MLCORE_ASSIGN_OR_RETURN(std::string command,
                          FormatCommand(options.command_template, params, trial.number()));
  std::vector<std::optional<double>> last(metrics.size());
  int64_t step = 0;
  Status report_error;
  auto take = [&](const std::vector<std::pair<std::string, double>>& found) -> bool {
    for (const auto& [name, value] : found) {
      auto m = std::find(metrics.begin(), metrics.end(), name);
      if (m == metrics.end()) continue;
      last[m - metrics.begin()] = value;
      if (m != metrics.begin()) continue;
      Status s = trial.Report(value, step++);
      if (!s.ok()) {
        report_error = s;
        return false;
      }
      StatusOr<bool> prune = trial.ShouldPrune();
      if (prune.ok() && *prune) return false;
    }
    return true;
  };
  const bool from_stdout = options.metrics_file.empty();
  MLCORE_ASSIGN_OR_RETURN(
      ProcessResult r,
      Run(command, options, trial.number(), TrialEnvironment(trial), [&](std::string_view line) {
        if (!from_stdout) return true;
        return take(options.format == MetricsFormat::kText ? ParseTextMetrics(line)
                                                           : ParseJsonMetrics(line));
      }));
  if (!report_error.ok()) return report_error;
  if (r.pruned) return TrialPrunedError(absl::StrCat("at step ", step - 1));
  if (r.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("the command ran past its timeout of ",
                                                    absl::FormatDuration(options.timeout),
                                                    " and was killed: ", command));
  }
  if (WIFSIGNALED(r.wait_status)) {
    int sig = WTERMSIG(r.wait_status);
    return absl::AbortedError(absl::StrCat("the command was killed by signal ", sig, " (",
                                           strsignal(sig), "): ", command,
                                           "; stderr: ", r.stderr_tail));
  }
  if (WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) != 0) {
    int code = WEXITSTATUS(r.wait_status);
    // The shell reports a child killed by a signal as 128 + signal.
    std::string why = code > 128 && code < 128 + 65
                          ? absl::StrCat(" (signal ", code - 128, ", ", strsignal(code - 128), ")")
                          : "";
    return absl::AbortedError(absl::StrCat("the command exited with status ", code, why, ": ",
                                           command, "; stderr: ", r.stderr_tail));
  }
  if (!from_stdout) {
    MLCORE_ASSIGN_OR_RETURN(std::string path,
                            FormatCommand(options.metrics_file, params, trial.number()));
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("the metrics file ", path, " does not exist"));
    }
    std::string line;
    while (std::getline(in, line)) {
      if (!take(ParseJsonMetrics(line))) break;
    }
  }
  std::vector<double> values;
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (!last[i].has_value()) {
      return absl::NotFoundError(
          absl::StrCat("the command printed no '", metrics[i], "' metric: ", command,
                       r.stderr_tail.empty() ? "" : "; stderr: ", r.stderr_tail));
    }
    values.push_back(*last[i]);
  }
  return values;
}

}  // namespace

StatusOr<Objective> MakeCommandObjective(CommandObjectiveOptions options, SearchSpace space) {
  if (options.metric.empty()) return absl::InvalidArgumentError("the objective metric is empty");
  MLCORE_RETURN_IF_ERROR(CheckCommandOptions(options, space));
  std::vector<std::string> metrics = {options.metric};
  return Objective([options = std::move(options), space = std::move(space),
                    metrics = std::move(metrics)](Trial& trial) -> StatusOr<double> {
    MLCORE_ASSIGN_OR_RETURN(std::vector<double> values,
                            RunCommandTrial(options, space, metrics, trial));
    return values[0];
  });
}

StatusOr<MultiObjective> MakeCommandMultiObjective(CommandObjectiveOptions options,
                                                   SearchSpace space,
                                                   std::vector<std::string> metrics) {
  if (metrics.empty()) return absl::InvalidArgumentError("no objective metric is named");
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (metrics[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("objective metric ", i, " is empty"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (metrics[j] == metrics[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("objective metric '", metrics[i], "' is named twice"));
      }
    }
  }
  MLCORE_RETURN_IF_ERROR(CheckCommandOptions(options, space));
  return MultiObjective(
      [options = std::move(options), space = std::move(space),
       metrics = std::move(metrics)](Trial& trial) -> StatusOr<std::vector<double>> {
        return RunCommandTrial(options, space, metrics, trial);
      });
}

}  // namespace mlcore::hpo

#include "mlcore/hpo/command_objective.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "mlcore/core/subprocess.h"
#include "mlcore/hpo/trial_log.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

using internal::AV;

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/' ||
         c == '.';
}

std::string Tail(const SubprocessResult& r) {
  return r.stderr_tail_truncated ? "..." + r.stderr_tail : r.stderr_tail;
}

// A trial's open log files; null members when its output is not kept.
struct TrialLogs {
  std::unique_ptr<TrialLogFile> out, err;
};

// Opens <log_dir>/trial-<n>/{stdout,stderr}.log and names them in the trial's user attributes
// before the command starts, so a page can follow them live.
StatusOr<TrialLogs> OpenTrialLogs(const CommandObjectiveOptions& options, Trial& trial) {
  TrialLogs logs;
  if (options.log_dir.empty()) return logs;
  std::string dir = absl::StrCat(options.log_dir, "/trial-", trial.number());
  MLCORE_ASSIGN_OR_RETURN(logs.out, TrialLogFile::Open(dir + "/stdout.log", options.max_log_bytes));
  MLCORE_ASSIGN_OR_RETURN(logs.err, TrialLogFile::Open(dir + "/stderr.log", options.max_log_bytes));
  MLCORE_RETURN_IF_ERROR(trial.SetUserAttr("stdout_path", nlohmann::json(logs.out->path()).dump()));
  MLCORE_RETURN_IF_ERROR(trial.SetUserAttr("stderr_path", nlohmann::json(logs.err->path()).dump()));
  return logs;
}

// Runs `command` with /bin/sh in its own process group; feeds each stdout line to on_line, which
// may ask to stop the process (pruning) by returning false.
StatusOr<SubprocessResult> Run(const std::string& command, const CommandObjectiveOptions& options,
                               int64_t trial_number,
                               const std::map<std::string, std::string>& trial_env, TrialLogs& logs,
                               const LineCallback& on_line) {
  SubprocessOptions so;
  so.argv = ShellCommand(command);
  so.working_dir = options.working_dir;
  // Later sources win: the inherited environment, the options' env, then what the trial holds.
  so.env = options.env;
  so.env["MLCORE_TRIAL_NUMBER"] = absl::StrCat(trial_number);
  for (const auto& [k, v] : trial_env) so.env[k] = v;
  so.stdin_path = "";  // a trial's command shares the study's stdin, as before
  so.on_stdout_line = [&](std::string_view line) {
    if (logs.out != nullptr) logs.out->Append(line);
    return on_line(line);
  };
  // stderr goes to its log, and its tail is named in the trial's error.
  so.on_stderr_line = [&](std::string_view line) {
    if (logs.err != nullptr) logs.err->Append(line);
    return true;
  };
  so.stderr_tail_bytes = 400;
  so.timeout = options.timeout;
  so.cancel_flag = options.cancel_flag;
  auto r = RunSubprocess(std::move(so));
  if (absl::IsNotFound(r.status())) {
    return absl::InternalError(absl::StrCat("could not start /bin/sh: ", r.status().message()));
  }
  return r;
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
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the command timeout must be positive (infinite: no limit), got ",
                     absl::FormatDuration(options.timeout)));
  }
  if (options.max_log_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_log_bytes must be positive, got ", options.max_log_bytes));
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

// Suggests every parameter of `space` whose condition holds.
Status SuggestSpace(const SearchSpace& space, Trial& trial) {
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
  return absl::OkStatus();
}

// Why a command that was not pruned failed its trial, or OK when it exited 0.
Status CommandFailure(const SubprocessResult& r, const CommandObjectiveOptions& options,
                      const std::string& command) {
  if (r.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("the command ran past its timeout of ",
                                                    absl::FormatDuration(options.timeout),
                                                    " and was killed: ", command));
  }
  if (r.term_signal != 0) {
    int sig = r.term_signal;
    return absl::AbortedError(absl::StrCat("the command was killed by signal ", sig, " (",
                                           strsignal(sig), "): ", command, "; stderr: ", Tail(r)));
  }
  if (r.exit_code != 0) {
    int code = r.exit_code;
    // The shell reports a child killed by a signal as 128 + signal.
    std::string why = code > 128 && code < 128 + 65
                          ? absl::StrCat(" (signal ", code - 128, ", ", strsignal(code - 128), ")")
                          : "";
    return absl::AbortedError(absl::StrCat("the command exited with status ", code, why, ": ",
                                           command, "; stderr: ", Tail(r)));
  }
  return absl::OkStatus();
}

// One trial: suggests the space, runs the command and returns the last value of each of
// `metrics`, in order. Every value of the first metric is an intermediate value.
StatusOr<std::vector<double>> RunCommandTrial(const CommandObjectiveOptions& options,
                                              const SearchSpace& space,
                                              const std::vector<std::string>& metrics,
                                              Trial& trial) {
  MLCORE_RETURN_IF_ERROR(SuggestSpace(space, trial));
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
  bool stopped = false;  // lines after the process was asked to stop are not read
  MLCORE_ASSIGN_OR_RETURN(TrialLogs logs, OpenTrialLogs(options, trial));
  MLCORE_ASSIGN_OR_RETURN(SubprocessResult r,
                          Run(command, options, trial.number(), TrialEnvironment(trial), logs,
                              [&](std::string_view line) {
                                if (!from_stdout || stopped) return true;
                                stopped = !take(options.format == MetricsFormat::kText
                                                    ? ParseTextMetrics(line)
                                                    : ParseJsonMetrics(line));
                                return !stopped;
                              }));
  if (!report_error.ok()) return report_error;
  if (options.cancel_flag != nullptr && options.cancel_flag->load()) {
    return absl::CancelledError(absl::StrCat("interrupted: the command was stopped: ", command));
  }
  if (stopped) return TrialPrunedError(absl::StrCat("at step ", step - 1));
  MLCORE_RETURN_IF_ERROR(CommandFailure(r, options, command));
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
      return absl::NotFoundError(absl::StrCat("the command printed no '", metrics[i],
                                              "' metric: ", command,
                                              r.stderr_tail.empty() ? "" : "; stderr: ", Tail(r)));
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

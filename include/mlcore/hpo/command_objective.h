// A trial as a command: `python train.py --lr={lr} --layers={layers}` run as a subprocess, its
// metrics read from stdout in Katib's `name=value` format (or JSON lines). This is how a study
// tunes any training script without importing it, the way Katib runs trial containers; a crash,
// a hang or a missing metric fails only that trial, with the reason.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {

enum class MetricsFormat {
  kText,       // `loss=0.25 accuracy=9.1e-1`, optionally after a timestamp, anywhere in a line
  kJsonLines,  // one JSON object per line: {"loss": 0.25, "step": 3}
};
// The format's name in specs and the Python API: "text" or "json"; InvalidArgument otherwise.
StatusOr<MetricsFormat> ParseMetricsFormat(std::string_view name);
const char* MetricsFormatName(MetricsFormat format);

struct CommandObjectiveOptions {
  // Run with /bin/sh -c. Placeholders: {name} or ${trialParameters.name} for each parameter of
  // `space`, and {trial_number}. An unknown placeholder is InvalidArgument at construction.
  std::string command_template;
  // The metric whose last value is the trial's value; each occurrence is also reported as an
  // intermediate value (step 0, 1, 2...) so pruners can stop the process early.
  std::string metric;
  MetricsFormat format = MetricsFormat::kText;
  // When set, metrics are read from this JSON-lines file (placeholders allowed) after the process
  // exits, instead of from stdout.
  std::string metrics_file;
  // A trial running longer is killed (its whole process group) and failed. Infinite: no limit.
  absl::Duration timeout = absl::InfiniteDuration();
  // Working directory of the process; empty: the current one.
  std::string working_dir;
  // Added to the environment. Always set on top: MLCORE_TRIAL_NUMBER; CUDA_VISIBLE_DEVICES (the
  // trial's own devices) when it holds GPUs; MLCORE_TRIAL_CPUS and OMP_NUM_THREADS when it holds
  // CPU slots (OptimizeOptions::resources).
  std::map<std::string, std::string> env;
  // Where each trial's stdout and stderr are kept: <log_dir>/trial-<number>/stdout.log and
  // stderr.log, named in the trial's user attributes "stdout_path" and "stderr_path" (see
  // trial_log.h; the dashboard and FrozenTrial.log read them). Empty: output is not kept (stdout
  // is still read for metrics). Python's CommandObjective and `mlcore hpo run` default it to
  // <home>/hpo/logs/<study> beside the study's SQLite store.
  std::string log_dir;
  // Bound of each log file; past it the file rotates to <name>.1 with a marker line (at most
  // about twice this per stream on disk). Default 16 MiB.
  int64_t max_log_bytes = int64_t{16} << 20;
  // When set, checked (every 50 ms at least) while a trial's command runs: once it is true the
  // command's process group is stopped as at a timeout and the trial fails "interrupted"
  // (Ctrl-C in Python). Must outlive the objective. Null: none.
  const std::atomic<bool>* cancel_flag = nullptr;
};

// The objective for Study::Optimize. Parameters are suggested from `space` (every placeholder
// must be a parameter of it, every parameter is suggested even when unused).
StatusOr<Objective> MakeCommandObjective(CommandObjectiveOptions options, SearchSpace space);
// The same for a multi-objective study: the trial's values are the last values of `metrics`, in
// order (options.metric is ignored; the first metric's values are the intermediate values). A
// missing metric fails the trial naming it. InvalidArgument for no metric, an empty or a repeated
// name.
StatusOr<MultiObjective> MakeCommandMultiObjective(CommandObjectiveOptions options,
                                                   SearchSpace space,
                                                   std::vector<std::string> metrics);

// The (name, value) pairs of one stdout line in Katib's text format: `name=value` tokens whose
// value is a number (1, -2.5, 3e-4, +1.5E+03); anything else on the line (a leading timestamp,
// words) is ignored.
std::vector<std::pair<std::string, double>> ParseTextMetrics(std::string_view line);
// The numeric fields of one JSON-lines record; empty for a line that is not a JSON object.
std::vector<std::pair<std::string, double>> ParseJsonMetrics(std::string_view line);

// The command with its placeholders filled. InvalidArgument naming an unknown placeholder.
StatusOr<std::string> FormatCommand(std::string_view command_template,
                                    const std::map<std::string, ParamValue>& params,
                                    int64_t trial_number);

}  // namespace mlcore::hpo

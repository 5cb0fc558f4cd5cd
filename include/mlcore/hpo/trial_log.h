// A command trial's stdout and stderr as files, so the dashboard and the Python API can show a
// trial's output while it runs and after it ended. CommandObjectiveOptions::log_dir turns them on:
// each trial writes <log_dir>/trial-<number>/stdout.log and stderr.log and records their paths in
// its user attributes "stdout_path" and "stderr_path" before its command starts.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

// One stream's log file, bounded: once it would pass max_bytes it is moved to <path>.1
// (replacing an older one) and a fresh file starts with a marker line naming where the earlier
// output went, so a chatty trial keeps at most about 2 * max_bytes per stream and its newest
// output is always in <path>. Each line is flushed, so a reader sees it at once.
class TrialLogFile {
 public:
  // Creates (or truncates) the file. Internal naming the path and why when it cannot be opened.
  static StatusOr<std::unique_ptr<TrialLogFile>> Open(std::string path, int64_t max_bytes);
  ~TrialLogFile();
  TrialLogFile(const TrialLogFile&) = delete;
  TrialLogFile& operator=(const TrialLogFile&) = delete;

  // Appends `line` and a newline. A write error stops the logging quietly (the trial goes on).
  void Append(std::string_view line);
  const std::string& path() const { return path_; }

 private:
  TrialLogFile(std::string path, int64_t max_bytes, std::FILE* file);
  void Rotate();

  std::string path_;
  int64_t max_bytes_;
  std::FILE* file_;
  int64_t written_ = 0;
  int64_t rotations_ = 0;
};

// The last `max_bytes` of the file at `path` (any log: a trial's, a pipeline task's); NotFound when
// it does not exist.
StatusOr<std::string> ReadLogTail(const std::string& path, int64_t max_bytes);

// The last `max_bytes` of a trial's "stdout" or "stderr" log (the paths its user attributes
// name). NotFound when the trial recorded no such log or its file is gone; InvalidArgument for
// another stream name.
StatusOr<std::string> ReadTrialLog(const FrozenTrial& trial, std::string_view stream,
                                   int64_t max_bytes = 1 << 20);

}  // namespace mlcore::hpo

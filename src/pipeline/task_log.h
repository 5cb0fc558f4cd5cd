// A task's stdout and stderr logs for in-process callables. Threads share file descriptors 1 and
// 2, so output is routed per thread instead, as the Python executor routes sys.stdout: std::cout,
// std::cerr and std::clog get a router (installed once, on the first in-process task) that
// writes to the log of the task running on the calling thread and to the original stream on any
// other thread. printf and direct writes to descriptors 1/2 are not routed (subprocess mode
// captures those: CallableMode::kSubprocess).
#pragma once

#include <cstdio>
#include <mutex>
#include <ostream>
#include <streambuf>
#include <string>

namespace mlcore::pipeline::internal {

class TaskLog {
 public:
  // Empty paths: the program's own stdout / stderr (a task run by RunTaskMain).
  TaskLog(std::string stdout_path, std::string stderr_path);
  ~TaskLog();
  TaskLog(const TaskLog&) = delete;
  TaskLog& operator=(const TaskLog&) = delete;

  // Appends to stream 1 (stdout) or 2 (stderr), creating the file and its directory on the
  // first write (most tasks print nothing). Thread-safe; a line is flushed when it ends.
  void Write(int stream, const char* data, size_t size);
  void Flush();
  std::ostream& Out() { return out_; }
  std::ostream& Err() { return err_; }

 private:
  class Buf : public std::streambuf {
   public:
    Buf(TaskLog* log, int stream) : log_(log), stream_(stream) {}

   protected:
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    int sync() override;

   private:
    TaskLog* log_;
    int stream_;
  };

  std::mutex mu_;
  std::string paths_[2];
  std::FILE* files_[2] = {nullptr, nullptr};
  Buf out_buf_{this, 1}, err_buf_{this, 2};
  std::ostream out_{&out_buf_}, err_{&err_buf_};
};

// While alive, std::cout / std::cerr / std::clog (and MLCORE_LOG, which writes through
// std::cerr) on this thread go to `log`; the previous target comes back at the end, and the
// log is flushed. Null `log`: nothing changes.
class ScopedTaskOutput {
 public:
  explicit ScopedTaskOutput(TaskLog* log);
  ~ScopedTaskOutput();
  ScopedTaskOutput(const ScopedTaskOutput&) = delete;
  ScopedTaskOutput& operator=(const ScopedTaskOutput&) = delete;

 private:
  TaskLog* log_;
  TaskLog* previous_;
};

}  // namespace mlcore::pipeline::internal

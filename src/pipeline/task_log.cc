#include "pipeline/task_log.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/component.h"

namespace mlcore::pipeline {
namespace internal {
namespace {

thread_local TaskLog* current_log = nullptr;

// Stands in for the streambuf of std::cout, std::cerr or std::clog. Unbuffered: every write
// reaches the calling thread's target at once, so threads never share a pending buffer.
class RouterBuf : public std::streambuf {
 public:
  RouterBuf(int stream, std::streambuf* fallback) : stream_(stream), fallback_(fallback) {}
  std::streambuf* fallback() const { return fallback_; }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (TaskLog* log = current_log) {
      log->Write(stream_, s, static_cast<size_t>(n));
      return n;
    }
    return fallback_->sputn(s, n);
  }
  int sync() override {
    if (TaskLog* log = current_log) {
      log->Flush();
      return 0;
    }
    return fallback_->pubsync();
  }

 private:
  int stream_;
  std::streambuf* fallback_;
};

// Puts a router on `stream` unless one is there (again, when the program replaced it since).
// The routers live for the whole process: a stream may still point at one at exit.
void Route(std::ostream& stream, int fd) {
  auto* current = dynamic_cast<RouterBuf*>(stream.rdbuf());
  if (current != nullptr) return;
  stream.rdbuf(new RouterBuf(fd, stream.rdbuf()));
}

std::mutex& InstallMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

TaskLog::TaskLog(std::string stdout_path, std::string stderr_path)
    : paths_{std::move(stdout_path), std::move(stderr_path)} {}

TaskLog::~TaskLog() {
  for (std::FILE* f : files_) {
    if (f != nullptr) std::fclose(f);
  }
}

void TaskLog::Write(int stream, const char* data, size_t size) {
  if (size == 0) return;
  const int i = stream == 2 ? 1 : 0;
  std::lock_guard<std::mutex> lock(mu_);
  std::FILE* f = files_[i];
  if (f == nullptr && paths_[i].empty()) {
    f = i == 0 ? stdout : stderr;
  } else if (f == nullptr) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(paths_[i]).parent_path(), ec);
    f = files_[i] = std::fopen(paths_[i].c_str(), "ae");
    if (f == nullptr) return;  // the task goes on; its output is lost, as on a full disk
  }
  std::fwrite(data, 1, size, f);
  if (std::memchr(data, '\n', size) != nullptr) std::fflush(f);
}

void TaskLog::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::FILE* f : files_) {
    if (f != nullptr) std::fflush(f);
  }
}

TaskLog::Buf::int_type TaskLog::Buf::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  const char ch = traits_type::to_char_type(c);
  log_->Write(stream_, &ch, 1);
  return c;
}

std::streamsize TaskLog::Buf::xsputn(const char* s, std::streamsize n) {
  log_->Write(stream_, s, static_cast<size_t>(n));
  return n;
}

int TaskLog::Buf::sync() {
  log_->Flush();
  return 0;
}

ScopedTaskOutput::ScopedTaskOutput(TaskLog* log) : log_(log), previous_(current_log) {
  if (log_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(InstallMutex());
    Route(std::cout, 1);
    Route(std::cerr, 2);
    Route(std::clog, 2);
  }
  current_log = log_;
}

ScopedTaskOutput::~ScopedTaskOutput() {
  if (log_ == nullptr) return;
  current_log = previous_;
  log_->Flush();
}

}  // namespace internal

std::string TaskRecord::Logs(bool stderr_log) const {
  std::ifstream in(stderr_log ? stderr_path : stdout_path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::ostream& TaskContext::Out() {
  if (!log) log = std::make_shared<internal::TaskLog>(stdout_path, stderr_path);
  return log->Out();
}

std::ostream& TaskContext::Err() {
  if (!log) log = std::make_shared<internal::TaskLog>(stdout_path, stderr_path);
  return log->Err();
}

}  // namespace mlcore::pipeline

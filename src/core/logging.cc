#include "mlcore/core/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "strings.h"

namespace mlcore {
namespace {

LogLevel LevelFromEnvironment() {
  const char* env = std::getenv("MLCORE_LOG_LEVEL");
  if (env == nullptr || *env == '\0') return LogLevel::kWarning;
  auto level = ParseLogLevel(env);
  if (!level.ok()) {
    std::fprintf(stderr, "mlcore: ignoring MLCORE_LOG_LEVEL: %s\n",
                 std::string(level.status().message()).c_str());
    return LogLevel::kWarning;
  }
  return *level;
}

std::atomic<int>& Level() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnvironment())};
  return level;
}

std::mutex& SinkMutex() {
  static std::mutex mu;
  return mu;
}

LogSink& Sink() {
  static LogSink sink;
  return sink;
}

}  // namespace

LogLevel GetLogLevel() { return static_cast<LogLevel>(Level().load(std::memory_order_relaxed)); }

void SetLogLevel(LogLevel level) { Level().store(static_cast<int>(level)); }

StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  std::string n = absl::AsciiStrToLower(internal::AV(name));
  if (n == "debug" || n == "trace") return LogLevel::kDebug;
  if (n == "info") return LogLevel::kInfo;
  if (n == "warning" || n == "warn") return LogLevel::kWarning;
  if (n == "error") return LogLevel::kError;
  if (n == "off" || n == "none" || n == "quiet") return LogLevel::kOff;
  return absl::InvalidArgumentError(absl::StrCat("unknown log level '", internal::AV(name),
                                                 "': expected debug, info, warning, error or off"));
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "unknown";
}

void SetLogSink(LogSink sink) {
  std::lock_guard<std::mutex> lock(SinkMutex());
  Sink() = std::move(sink);
}

namespace internal {

LogMessage::LogMessage(LogLevel level, const char* file, int line) : level_(level) {
  const char* base = std::strrchr(file, '/');
  stream_ << "mlcore " << LogLevelName(level) << " " << (base ? base + 1 : file) << ":" << line
          << "] ";
}

LogMessage::~LogMessage() {
  std::string message = stream_.str();
  std::lock_guard<std::mutex> lock(SinkMutex());
  if (Sink()) {
    Sink()(level_, message);
  } else {
    // Through std::cerr, which a pipeline routes to the log of the task on this thread.
    message.push_back('\n');
    std::cerr.write(message.data(), static_cast<std::streamsize>(message.size()));
    std::cerr.flush();
  }
}

}  // namespace internal
}  // namespace mlcore

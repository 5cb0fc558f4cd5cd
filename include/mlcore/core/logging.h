// Leveled logging to stderr. The level comes from MLCORE_LOG_LEVEL (debug, info, warning, error,
// off; default warning) at first use and can be changed at run time. A message below the level
// costs one comparison: its stream expression is not evaluated.
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

LogLevel GetLogLevel();
void SetLogLevel(LogLevel level);
StatusOr<LogLevel> ParseLogLevel(std::string_view name);
const char* LogLevelName(LogLevel level);

// Replaces the stderr writer (for example to route messages into Python's logging). Pass an
// empty function to restore stderr.
using LogSink = std::function<void(LogLevel, std::string_view message)>;
void SetLogSink(LogSink sink);

namespace internal {
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace internal

}  // namespace mlcore

#define MLCORE_LOG(level)                                       \
  if (::mlcore::LogLevel::k##level < ::mlcore::GetLogLevel()) { \
  } else                                                        \
    ::mlcore::internal::LogMessage(::mlcore::LogLevel::k##level, __FILE__, __LINE__).stream()

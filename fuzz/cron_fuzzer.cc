// Cron expressions of recurring runs: parse, then ask for the next fire times. The first line is
// the expression, the second the time zone.
#include <string>

#include "mlcore/pipeline/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const size_t newline = text.find('\n');
  const std::string expression = text.substr(0, newline);
  const std::string zone = newline == std::string::npos ? "UTC" : text.substr(newline + 1);
  auto schedule = mlcore::pipeline::CronSchedule::Parse(expression, zone);
  if (!schedule.ok()) return 0;
  absl::Time t = absl::FromUnixSeconds(1700000000);
  for (int i = 0; i < 3; ++i) {
    auto next = schedule->Next(t);
    if (!next.ok()) break;
    if (*next <= t) __builtin_trap();  // strictly after, or the scheduler loops for ever
    t = *next;
  }
  return 0;
}

// Cron expressions, the way recurring runs say when they fire: five fields (minute hour
// day-of-month month day-of-week) with lists, ranges, steps, names (JAN, MON) and the @hourly
// family, read as Vixie cron (and Kubeflow's recurring runs) read them, so an expression copied
// from a crontab means the same thing here. Times are computed in one time zone (UTC unless told),
// from the zoneinfo database, so daylight-saving changes are handled without touching the
// process's TZ.
#pragma once

#include <bitset>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore::pipeline {

// A parsed cron expression. Immutable and cheap to copy; safe to share between threads.
//
//   field          values   names
//   minute         0-59
//   hour           0-23
//   day of month   1-31
//   month          1-12     JAN-DEC
//   day of week    0-7      SUN-SAT (0 and 7 are both Sunday)
//
// Each field is `*`, or a comma list of `N`, `A-B`, `*/S`, `A-B/S` or `N/S` (N to the end of the
// range, step S). Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
// When both day of month and day of week are restricted (neither starts with `*`), a day matches
// when EITHER matches (Vixie cron's rule); otherwise both must.
class CronSchedule {
 public:
  // InvalidArgument naming the field and the bad token ("cron '0 25 * * *': hour: 25 is out of
  // range 0-23"); an empty field list, a wrong field count or an unknown macro likewise.
  // `time_zone`: an IANA name ("Europe/Zurich") or "" / "UTC"; NotFound when the zoneinfo
  // database has no such zone.
  static StatusOr<CronSchedule> Parse(std::string_view expression,
                                      std::string_view time_zone = "UTC");

  // The first time strictly after `after` that matches, to the minute (seconds are zero in the
  // schedule's zone). A wall-clock time that a daylight-saving change skips fires at the change;
  // one that it repeats fires once, at its first occurrence. NotFound when nothing matches in
  // the next 50 years (e.g. "0 0 30 2 *", February 30th).
  StatusOr<absl::Time> Next(absl::Time after) const;

  // The next `n` times after `after`, in order (fewer when the schedule runs out).
  std::vector<absl::Time> NextTimes(absl::Time after, int n) const;

  const std::string& expression() const { return expression_; }
  const std::string& time_zone() const { return zone_name_; }

 private:
  CronSchedule() = default;

  bool DayMatches(int day_of_month, int weekday_sunday0) const;

  std::string expression_;
  std::string zone_name_;
  absl::TimeZone zone_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 0 unused
  std::bitset<13> months_;         // bit 0 unused
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool dom_star_ = false;
  bool dow_star_ = false;
};

}  // namespace mlcore::pipeline

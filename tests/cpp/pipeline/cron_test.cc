#include "mlcore/pipeline/cron.h"

#include <string>

#include "gtest/gtest.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

absl::Time At(const std::string& text, const std::string& zone = "UTC") {
  absl::TimeZone tz = absl::UTCTimeZone();
  if (zone != "UTC") EXPECT_TRUE(absl::LoadTimeZone(zone, &tz)) << zone;
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M:%S", text, tz, &t, &err)) << text << ": " << err;
  return t;
}

std::string Show(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %a", t, absl::UTCTimeZone());
}

struct Case {
  const char* cron;
  const char* after;  // UTC
  const char* next;   // UTC, worked out by hand (weekdays from 2024-01-01 being a Monday)
};

// Each row's expected time was reasoned out independently of the implementation; the comment
// says why.
const Case kCases[] = {
    {"*/5 * * * *", "2024-01-01 00:00:00", "2024-01-01 00:05:00"},
    {"*/5 * * * *", "2024-01-01 00:03:30", "2024-01-01 00:05:00"},   // seconds round up
    {"*/5 * * * *", "2024-01-01 23:58:00", "2024-01-02 00:00:00"},   // day rollover
    {"0 0 1 1 *", "2024-12-31 23:59:00", "2025-01-01 00:00:00"},     // year rollover
    {"0 0 31 * *", "2024-01-31 00:00:00", "2024-03-31 00:00:00"},    // February has no 31st
    {"59 23 30 * *", "2024-02-01 00:00:00", "2024-03-30 23:59:00"},  // nor a 30th
    {"0 0 31 * *", "2024-04-01 00:00:00", "2024-05-31 00:00:00"},    // April has 30 days
    {"0 0 29 2 *", "2024-01-01 00:00:00", "2024-02-29 00:00:00"},    // 2024 is a leap year
    {"0 0 29 2 *", "2024-03-01 00:00:00", "2028-02-29 00:00:00"},    // next leap year
    {"0 0 29 2 *", "2096-03-01 00:00:00", "2104-02-29 00:00:00"},    // 2100 is not a leap year
    {"0 12 * * 0", "2024-06-01 00:00:00", "2024-06-02 12:00:00"},    // June 1st is a Saturday
    {"0 12 * * 7", "2024-06-01 00:00:00", "2024-06-02 12:00:00"},    // 7 is Sunday too
    {"0 12 * * SUN", "2024-06-02 12:00:00", "2024-06-09 12:00:00"},  // strictly after
    {"0 12 * * 5-7", "2024-06-03 00:00:00", "2024-06-07 12:00:00"},  // Fri..Sun from a Monday
    // Day of month and day of week both restricted: either matches (Vixie cron).
    {"0 0 13 * 5", "2024-09-01 00:00:00", "2024-09-06 00:00:00"},   // Sunday -> Friday 6th
    {"0 0 13 * 5", "2024-10-11 00:00:00", "2024-10-13 00:00:00"},   // the 13th, a Sunday
    {"0 0 13 * 5", "2024-10-13 00:00:00", "2024-10-18 00:00:00"},   // then the next Friday
    {"0 0 13 * *", "2024-09-01 00:00:00", "2024-09-13 00:00:00"},   // only the 13th
    {"0 0 */2 * 5", "2024-10-01 00:00:00", "2024-10-11 00:00:00"},  // '*' first: both (odd Fri)
    {"0 0 * * 1", "2024-02-27 00:00:00", "2024-03-04 00:00:00"},    // Feb 29th in between
    {"30 9 * JAN-MAR MON-FRI", "2024-03-29 10:00:00", "2025-01-01 09:30:00"},  // Fri -> Wed
    {"30 9 * jan-mar mon-fri", "2024-03-28 10:00:00", "2024-03-29 09:30:00"},  // case-blind
    {"10-30/10 * * * *", "2024-01-01 00:00:00", "2024-01-01 00:10:00"},
    {"10-30/10 * * * *", "2024-01-01 00:30:00", "2024-01-01 01:10:00"},
    {"50/5 * * * *", "2024-01-01 00:56:00", "2024-01-01 01:50:00"},  // N/S: N..59 step S
    {"0,30 8,17 * * *", "2024-01-01 08:30:00", "2024-01-01 17:00:00"},
    {"0 0 * * *", "2023-02-28 00:00:00", "2023-03-01 00:00:00"},  // not a leap year
    {"@hourly", "2024-01-01 10:00:00", "2024-01-01 11:00:00"},
    {"@daily", "2024-12-31 00:00:00", "2025-01-01 00:00:00"},
    {"@midnight", "2024-12-31 00:00:00", "2025-01-01 00:00:00"},
    {"@weekly", "2024-06-01 00:00:00", "2024-06-02 00:00:00"},  // Sunday midnight
    {"@monthly", "2024-01-31 00:00:00", "2024-02-01 00:00:00"},
    {"@yearly", "2024-05-05 00:00:00", "2025-01-01 00:00:00"},
    {"@annually", "2024-05-05 00:00:00", "2025-01-01 00:00:00"},
    {"  0\t0 * * *  ", "2024-05-05 00:00:00", "2024-05-06 00:00:00"},  // tabs, padding
};

TEST(Cron, TableOfNextTimes) {
  for (const Case& c : kCases) {
    auto cron = CronSchedule::Parse(c.cron);
    ASSERT_TRUE(cron.ok()) << c.cron << ": " << cron.status();
    auto next = cron->Next(At(c.after));
    ASSERT_TRUE(next.ok()) << c.cron << ": " << next.status();
    EXPECT_EQ(Show(*next), Show(At(c.next))) << "cron '" << c.cron << "' after " << c.after;
  }
}

TEST(Cron, NextTimesWalksForward) {
  auto cron = CronSchedule::Parse("0 0 L * *");
  EXPECT_FALSE(cron.ok());
  cron = CronSchedule::Parse("0 6 1,15 * *");
  ASSERT_TRUE(cron.ok());
  auto times = cron->NextTimes(At("2024-01-20 00:00:00"), 4);
  ASSERT_EQ(times.size(), 4u);
  EXPECT_EQ(Show(times[0]), Show(At("2024-02-01 06:00:00")));
  EXPECT_EQ(Show(times[1]), Show(At("2024-02-15 06:00:00")));
  EXPECT_EQ(Show(times[2]), Show(At("2024-03-01 06:00:00")));
  EXPECT_EQ(Show(times[3]), Show(At("2024-03-15 06:00:00")));
}

TEST(Cron, NeverMatchingIsNotFound) {
  auto cron = CronSchedule::Parse("0 0 30 2 *");
  ASSERT_TRUE(cron.ok());
  auto next = cron->Next(At("2024-01-01 00:00:00"));
  EXPECT_EQ(next.status().code(), absl::StatusCode::kNotFound);
  EXPECT_HAS(std::string(next.status().message()), "0 0 30 2 *");
  EXPECT_TRUE(cron->NextTimes(At("2024-01-01 00:00:00"), 3).empty());
}

TEST(Cron, TimeZonesAndDaylightSaving) {
  // New York, 2024: clocks spring forward on March 10th at 02:00 EST (07:00 UTC) and fall back
  // on November 3rd at 02:00 EDT (06:00 UTC).
  auto cron = CronSchedule::Parse("30 2 * * *", "America/New_York");
  ASSERT_TRUE(cron.ok()) << cron.status();
  EXPECT_EQ(cron->time_zone(), "America/New_York");
  // 02:30 EST on March 9th is 07:30 UTC.
  EXPECT_EQ(Show(*cron->Next(At("2024-03-09 00:00:00"))), Show(At("2024-03-09 07:30:00")));
  // 02:30 does not exist on March 10th: it fires at the change, 03:00 EDT = 07:00 UTC.
  EXPECT_EQ(Show(*cron->Next(At("2024-03-09 08:00:00"))), Show(At("2024-03-10 07:00:00")));
  // March 11th, 02:30 EDT = 06:30 UTC.
  EXPECT_EQ(Show(*cron->Next(At("2024-03-10 07:00:00"))), Show(At("2024-03-11 06:30:00")));

  auto repeated = CronSchedule::Parse("30 1 * * *", "America/New_York");
  ASSERT_TRUE(repeated.ok());
  // 01:30 happens twice on November 3rd; it fires once, at the first (EDT, 05:30 UTC).
  EXPECT_EQ(Show(*repeated->Next(At("2024-11-03 00:00:00"))), Show(At("2024-11-03 05:30:00")));
  EXPECT_EQ(Show(*repeated->Next(At("2024-11-03 05:30:00"))), Show(At("2024-11-04 06:30:00")));
  // Asked from inside the second 01:00-02:00, the next one is the next day's.
  EXPECT_EQ(Show(*repeated->Next(At("2024-11-03 06:15:00"))), Show(At("2024-11-04 06:30:00")));

  auto bad = CronSchedule::Parse("* * * * *", "Mars/Olympus_Mons");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_HAS(std::string(bad.status().message()), "Mars/Olympus_Mons");
}

struct BadCase {
  const char* cron;
  const char* message_part;
};

TEST(Cron, BadExpressionsNameTheFieldAndToken) {
  const BadCase kBad[] = {
      {"60 * * * *", "minute: '60' is out of range 0-59"},
      {"* 24 * * *", "hour: '24' is out of range 0-23"},
      {"* * 0 * *", "day of month: '0' is out of range 1-31"},
      {"* * 32 * *", "day of month: '32' is out of range 1-31"},
      {"* * * 13 *", "month: '13' is out of range 1-12"},
      {"* * * * 8", "day of week: '8' is out of range 0-7"},
      {"* * * FOO *", "month: 'FOO' is not a known name"},
      {"* * * * MONDAY", "day of week: 'MONDAY' is not a known name"},
      {"MON * * * *", "minute: 'MON' is not a number"},
      {"*/0 * * * *", "minute: '*/0' has a bad step"},
      {"*/x * * * *", "minute: '*/x' has a bad step"},
      {"5-1 * * * *", "minute: '5-1' is a range that runs backwards"},
      {"1,,2 * * * *", "minute: '' is empty"},
      {"* * * *", "expected 5 fields"},
      {"* * * * * *", "expected 5 fields"},
      {"", "expected 5 fields"},
      {"@every 5m", "unknown macro"},
      {"1-2-3 * * * *", "minute: '2-3' is not a number"},
  };
  for (const BadCase& c : kBad) {
    auto cron = CronSchedule::Parse(c.cron);
    ASSERT_FALSE(cron.ok()) << "'" << c.cron << "' parsed";
    EXPECT_EQ(cron.status().code(), absl::StatusCode::kInvalidArgument) << c.cron;
    std::string message(cron.status().message());
    EXPECT_HAS(message, c.message_part);
    EXPECT_HAS(message, std::string("cron '") + c.cron + "'");
  }
}

}  // namespace
}  // namespace mlcore::pipeline

#include "mlcore/pipeline/cron.h"

#include <array>
#include <cctype>
#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "core/strings.h"

namespace mlcore::pipeline {
namespace {

using ::mlcore::internal::AV;

std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

struct FieldSpec {
  const char* name;
  int min;
  int max;                   // inclusive; day of week allows 7 (= Sunday)
  const char* const* names;  // names[i] is the value min + i; nullptr: none
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day of month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},
    {"day of week", 0, 7, kDayNames},
}};

// Years Next() looks ahead before giving up: a February 29th on a given weekday recurs within 28
// years, so 50 covers every satisfiable expression.
constexpr int kSearchYears = 50;

Status Bad(std::string_view expression, const FieldSpec& field, std::string_view token,
           std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("cron '", AV(expression), "': ", field.name, ": '", AV(token), "' ", AV(why)));
}

// One value of a field: a number or (month, day of week) a three-letter name.
StatusOr<int> ParseValue(std::string_view expression, const FieldSpec& field,
                         std::string_view token) {
  if (token.empty()) return Bad(expression, field, token, "is empty");
  if (field.names != nullptr && std::isalpha(static_cast<unsigned char>(token[0]))) {
    std::string upper = absl::AsciiStrToUpper(AV(token));
    int count = field.max - field.min + 1 - (field.max == 7 ? 1 : 0);
    for (int i = 0; i < count; ++i) {
      if (upper == field.names[i]) return field.min + i;
    }
    return Bad(expression, field, token, "is not a known name");
  }
  int value = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (ec != std::errc() || end != token.data() + token.size()) {
    return Bad(expression, field, token, "is not a number");
  }
  if (value < field.min || value > field.max) {
    return Bad(expression, field, token,
               absl::StrCat("is out of range ", field.min, "-", field.max));
  }
  return value;
}

// Parses one field into the set of values it allows (day of week 7 folded onto 0 by the caller).
StatusOr<std::vector<bool>> ParseField(std::string_view expression, const FieldSpec& field,
                                       std::string_view text) {
  std::vector<bool> allowed(field.max + 1, false);
  for (absl::string_view piece : absl::StrSplit(AV(text), ',')) {
    std::string_view item = SV(piece);
    std::string_view range = item;
    int step = 1;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      std::string_view step_text = item.substr(slash + 1);
      auto [end, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (step_text.empty() || ec != std::errc() || end != step_text.data() + step_text.size() ||
          step < 1) {
        return Bad(expression, field, item, "has a bad step (a whole number >= 1 after '/')");
      }
      range = item.substr(0, slash);
    }
    int lo = field.min, hi = field.max;
    if (range == "*") {
      if (field.max == 7) hi = 6;  // '*' in day of week is Sunday..Saturday once
    } else {
      size_t dash = range.find('-', 1);
      MLCORE_ASSIGN_OR_RETURN(lo, ParseValue(expression, field, range.substr(0, dash)));
      if (dash != std::string_view::npos) {
        MLCORE_ASSIGN_OR_RETURN(hi, ParseValue(expression, field, range.substr(dash + 1)));
        if (hi < lo) return Bad(expression, field, item, "is a range that runs backwards");
      } else if (slash == std::string_view::npos) {
        hi = lo;
      }
    }
    for (int v = lo; v <= hi; v += step) allowed[v] = true;
  }
  return allowed;
}

StatusOr<std::string> ExpandMacro(std::string_view expression) {
  static constexpr std::pair<const char*, const char*> kMacros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  };
  std::string lower = absl::AsciiStrToLower(AV(expression));
  for (const auto& [name, expansion] : kMacros) {
    if (lower == name) return std::string(expansion);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cron '", AV(expression),
                   "': unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, "
                   "@midnight or @hourly)"));
}

template <size_t N>
std::bitset<N> ToBits(const std::vector<bool>& allowed) {
  std::bitset<N> bits;
  for (size_t i = 0; i < N && i < allowed.size(); ++i) bits[i] = allowed[i];
  return bits;
}

}  // namespace

StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expression,
                                           std::string_view time_zone) {
  CronSchedule cron;
  cron.expression_ = std::string(expression);
  std::string text(SV(absl::StripAsciiWhitespace(AV(expression))));
  if (!text.empty() && text[0] == '@') {
    MLCORE_ASSIGN_OR_RETURN(text, ExpandMacro(text));
  }
  std::vector<std::string_view> fields;
  // Spaces or tabs separate the fields, as in a crontab.
  for (absl::string_view f : absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipWhitespace())) {
    fields.emplace_back(f.data(), f.size());
  }
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("cron '", AV(expression),
                     "': expected 5 fields (minute hour day-of-month month "
                     "day-of-week) or a @macro, got ",
                     fields.size()));
  }
  std::vector<std::vector<bool>> parsed;
  for (size_t i = 0; i < 5; ++i) {
    MLCORE_ASSIGN_OR_RETURN(auto allowed, ParseField(expression, kFields[i], fields[i]));
    parsed.push_back(std::move(allowed));
  }
  if (parsed[4][7]) parsed[4][0] = true;  // 7 is Sunday too
  cron.minutes_ = ToBits<60>(parsed[0]);
  cron.hours_ = ToBits<24>(parsed[1]);
  cron.days_of_month_ = ToBits<32>(parsed[2]);
  cron.months_ = ToBits<13>(parsed[3]);
  cron.days_of_week_ = ToBits<7>(parsed[4]);
  cron.dom_star_ = fields[2][0] == '*';
  cron.dow_star_ = fields[4][0] == '*';

  std::string zone(SV(absl::StripAsciiWhitespace(AV(time_zone))));
  if (zone.empty() || zone == "UTC") {
    cron.zone_name_ = "UTC";
    cron.zone_ = absl::UTCTimeZone();
  } else if (absl::LoadTimeZone(zone, &cron.zone_)) {
    cron.zone_name_ = zone;
  } else {
    return absl::NotFoundError(absl::StrCat("cron '", AV(expression), "': unknown time zone '",
                                            zone, "' (not in the zoneinfo database)"));
  }
  return cron;
}

bool CronSchedule::DayMatches(int day_of_month, int weekday_sunday0) const {
  bool dom = days_of_month_[day_of_month];
  bool dow = days_of_week_[weekday_sunday0];
  if (!dom_star_ && !dow_star_) return dom || dow;
  return dom && dow;
}

StatusOr<absl::Time> CronSchedule::Next(absl::Time after) const {
  absl::CivilMinute cm = absl::ToCivilMinute(after, zone_) + 1;
  const absl::civil_year_t last_year = cm.year() + kSearchYears;
  while (cm.year() <= last_year) {
    if (!months_[cm.month()]) {
      cm = absl::CivilMinute(absl::CivilMonth(cm) + 1);
      continue;
    }
    absl::CivilDay day(cm);
    int weekday = (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;  // absl: Monday = 0
    if (!DayMatches(cm.day(), weekday)) {
      cm = absl::CivilMinute(day + 1);
      continue;
    }
    if (!hours_[cm.hour()]) {
      cm = absl::CivilMinute(absl::CivilHour(cm) + 1);
      continue;
    }
    if (!minutes_[cm.minute()]) {
      cm += 1;
      continue;
    }
    absl::TimeZone::TimeInfo info = zone_.At(absl::CivilSecond(cm));
    absl::Time t = info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    if (t > after) return t;
    cm += 1;
  }
  return absl::NotFoundError(absl::StrCat("cron '", expression_, "' matches no time in the ",
                                          kSearchYears, " years after ",
                                          absl::FormatTime(after, absl::UTCTimeZone())));
}

std::vector<absl::Time> CronSchedule::NextTimes(absl::Time after, int n) const {
  std::vector<absl::Time> out;
  for (int i = 0; i < n; ++i) {
    StatusOr<absl::Time> t = Next(after);
    if (!t.ok()) break;
    out.push_back(*t);
    after = *t;
  }
  return out;
}

}  // namespace mlcore::pipeline

#include "store/row_values.h"

#include <variant>

namespace mlcore::store::internal {

std::string ValueText(const Value& v) {
  if (const std::string* s = std::get_if<std::string>(&v)) return *s;
  if (const int64_t* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  return "";
}

int64_t ValueInt(const Value& v) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) return *i;
  if (const double* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  return 0;
}

std::optional<absl::Time> OptionalTime(const Value& v) {
  if (const double* d = std::get_if<double>(&v)) return absl::UnixEpoch() + absl::Seconds(*d);
  if (const int64_t* i = std::get_if<int64_t>(&v)) return absl::FromUnixSeconds(*i);
  return std::nullopt;
}

Json ParseJsonOr(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

}  // namespace mlcore::store::internal

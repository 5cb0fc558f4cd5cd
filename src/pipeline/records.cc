#include "pipeline/records.h"

#include <random>

#include "absl/strings/str_format.h"

namespace mlcore::pipeline::internal {

double ToSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

std::optional<absl::Time> OptionalTime(const store::Value& v) {
  if (const double* d = std::get_if<double>(&v)) return absl::UnixEpoch() + absl::Seconds(*d);
  if (const int64_t* i = std::get_if<int64_t>(&v)) return absl::FromUnixSeconds(*i);
  return std::nullopt;
}

std::string ValueText(const store::Value& v) {
  if (const std::string* s = std::get_if<std::string>(&v)) return *s;
  if (const int64_t* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  return "";
}

int64_t ValueInt(const store::Value& v) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) return *i;
  if (const double* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  return 0;
}

Json ParseJsonOr(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

std::string NewRunId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  return absl::StrFormat("%016x%016x", gen(), gen());
}

}  // namespace mlcore::pipeline::internal

#include "pipeline/records.h"

#include <unistd.h>

#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

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

namespace {
std::string StartTimeOf(int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return "";
  std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
    if (i == 22) return field;
  }
  return "";
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}
}  // namespace

ProcessIdentity ThisProcess() {
  // Cached per pid: a forked child (multiprocessing, tests) must not inherit its parent's name.
  static std::mutex mu;
  static ProcessIdentity cached;
  std::lock_guard<std::mutex> lock(mu);
  if (cached.pid != getpid()) {
    cached.host = HostName();
    cached.pid = getpid();
    cached.start = StartTimeOf(cached.pid);
  }
  return cached;
}

bool IsAlive(const ProcessIdentity& owner) {
  if (owner.host != ThisProcess().host) return true;
  std::string start = StartTimeOf(owner.pid);
  if (start.empty()) return false;
  return owner.start.empty() || owner.start == start;
}

std::string NewRunId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  return absl::StrFormat("%016x%016x", gen(), gen());
}

}  // namespace mlcore::pipeline::internal

#include "core/process_identity.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mlcore::internal {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

std::string ProcessStartTime(int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return "";
  std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return "";
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
    if (i == 22) return field;
  }
  return "";
}

ProcessIdentity ThisProcess() {
  static std::mutex mu;
  static ProcessIdentity cached;
  std::lock_guard<std::mutex> lock(mu);
  if (cached.pid != ::getpid()) {
    cached.host = HostName();
    cached.pid = ::getpid();
    cached.start = ProcessStartTime(cached.pid);
  }
  return cached;
}

bool IsAlive(const ProcessIdentity& owner) {
  if (owner.host != ThisProcess().host) return true;
  if (owner.pid <= 0) return false;
  const std::string start = ProcessStartTime(owner.pid);
  if (start.empty()) return false;
  return owner.start.empty() || owner.start == start;
}

std::string FormatOwner(const ProcessIdentity& owner) {
  return absl::StrCat(owner.host, ":", owner.pid, ":", owner.start);
}

std::optional<ProcessIdentity> ParseOwner(std::string_view text) {
  ProcessIdentity id;
  size_t last = text.rfind(':');
  if (last == std::string_view::npos) return std::nullopt;
  size_t before = last == 0 ? std::string_view::npos : text.rfind(':', last - 1);
  std::string_view pid_text;
  if (before != std::string_view::npos && before > 0) {
    id.host = std::string(text.substr(0, before));
    pid_text = text.substr(before + 1, last - before - 1);
    id.start = std::string(text.substr(last + 1));
  } else {  // "host:pid" as written before start times were recorded
    id.host = std::string(text.substr(0, last));
    pid_text = text.substr(last + 1);
  }
  if (!absl::SimpleAtoi(absl::string_view(pid_text.data(), pid_text.size()), &id.pid) ||
      id.pid <= 0 || id.host.empty())
    return std::nullopt;
  return id;
}

}  // namespace mlcore::internal

#include "hpo/process_identity.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace mlcore::hpo::internal {
namespace {
std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}
}  // namespace

std::string ThisProcessOwner() { return HostName() + ":" + std::to_string(::getpid()); }

bool OwnerAlive(const std::string& owner) {
  size_t colon = owner.rfind(':');
  if (colon == std::string::npos) return false;
  if (owner.substr(0, colon) != HostName()) return true;
  long pid = std::strtol(owner.c_str() + colon + 1, nullptr, 10);
  if (pid <= 0) return false;
  if (pid == ::getpid()) return true;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

}  // namespace mlcore::hpo::internal

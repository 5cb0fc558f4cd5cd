#include "dist/socket_util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace mlcore::dist::internal {
namespace {

std::string Where(const std::string& host, int port) {
  return (host.empty() ? std::string("*") : host) + ":" + std::to_string(port);
}

int MillisUntil(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  if (left > absl::Hours(1)) return 3600 * 1000;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

}  // namespace

StatusOr<Listener> Listen(const std::string& bind_address, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(bind_address.empty() ? nullptr : bind_address.c_str(), service.c_str(),
                       &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError("cannot resolve " + Where(bind_address, port) + ": " +
                                      gai_strerror(rc));
  }
  // An IPv6 wildcard also takes IPv4 where the system allows; prefer IPv4 for a plain address.
  int fd = -1;
  int error = 0;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    if (bind_address.empty() && a->ai_family != AF_INET) continue;
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 512) != 0) {
      error = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    if (error == EADDRINUSE) {
      return absl::UnavailableError("cannot host the store: port " + std::to_string(port) + " on " +
                                    Where(bind_address, port) + " is in use");
    }
    return absl::UnavailableError("cannot listen on " + Where(bind_address, port) + ": " +
                                  std::strerror(error));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  Listener l;
  l.fd = fd;
  l.port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return l;
}

StatusOr<int> Connect(const std::string& host, int port, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string last_error = "no address";
  absl::Duration backoff = absl::Milliseconds(10);
  while (true) {
    addrinfo* found = nullptr;
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) {
      last_error = gai_strerror(rc);
    } else {
      for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          freeaddrinfo(found);
          return fd;
        }
        last_error = std::strerror(errno);
        close(fd);
      }
      freeaddrinfo(found);
    }
    if (absl::Now() + backoff > deadline) break;
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Milliseconds(200));
  }
  return absl::UnavailableError("cannot reach the store at " + Where(host, port) + " (" +
                                last_error + "); is rank 0 running?");
}

Status SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError(std::string("send: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

Status RecvExactly(int fd, char* out, size_t n, absl::Time deadline) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, MillisUntil(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) return absl::DeadlineExceededError("no answer in time");
    ssize_t r = recv(fd, out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return absl::UnavailableError("connection closed by the peer");
    if (r < 0) return absl::UnavailableError(std::string("recv: ") + std::strerror(errno));
    got += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

}  // namespace mlcore::dist::internal

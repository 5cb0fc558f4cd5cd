// The few blocking socket operations the TCP store needs, with errors as Status naming the
// address and the system's reason.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore::dist::internal {

// A listening TCP socket on `bind_address` ("" = every interface) and `port` (0 = any free one).
struct Listener {
  int fd = -1;
  int port = 0;
};
// Unavailable "port P on A is in use" for EADDRINUSE.
StatusOr<Listener> Listen(const std::string& bind_address, int port);

// Connects to host:port, retrying refused connections until `deadline` (the host may still be
// starting). TCP_NODELAY is set: the store's messages are small request/response pairs.
StatusOr<int> Connect(const std::string& host, int port, absl::Time deadline);

// Writes all of `data`; Unavailable when the peer is gone.
Status SendAll(int fd, const std::string& data);
// Reads exactly `n` bytes into `out`, waiting at most until `deadline`. Unavailable when the
// peer closed the connection, DeadlineExceeded when the deadline passed.
Status RecvExactly(int fd, char* out, size_t n, absl::Time deadline);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace mlcore::dist::internal

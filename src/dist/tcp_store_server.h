// The server half of TcpStore: one thread in the hosting process that owns the key-value map and
// answers every client over poll(). Blocking requests (Get, Wait) park until their keys are set
// or their own deadline passes, so a client's timeout never leaves a half-read answer on its
// connection.
#pragma once

#include <memory>
#include <string>

#include "mlcore/core/status.h"

namespace mlcore::dist::internal {

class TcpStoreServer {
 public:
  // Listens on bind_address:port (port 0 picks one) and starts serving.
  static StatusOr<std::unique_ptr<TcpStoreServer>> Start(const std::string& bind_address, int port);
  // Stops the thread and closes every connection.
  ~TcpStoreServer();
  int port() const;

  class Impl;

 private:
  explicit TcpStoreServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlcore::dist::internal

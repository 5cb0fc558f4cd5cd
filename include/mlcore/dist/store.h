// The rendezvous key-value store: how the ranks of a group find each other before any tensor
// moves. Rank 0 hosts a TCP store (or every rank shares a file on a shared file system); the
// others connect to it. Backends exchange their addresses through it (Gloo's pairs, NCCL's
// unique id), and the communicator posts heartbeats and arrival counters into it, so a rank that
// times out can name the ranks that never came.
//
// Values are bytes (std::string). Every blocking call has a timeout; a call that runs past it is
// DeadlineExceeded naming the keys it waited for. A store whose host is gone is Unavailable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore::dist {

// The default of every store and communicator timeout that is not given: long enough for a slow
// rank to start (imports, CUDA context), short enough that a dead one is noticed.
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(300);

// Thread-safe: several threads of one process may share a store (the heartbeat thread does).
class Store {
 public:
  virtual ~Store() = default;

  // Stores `value` under `key`, replacing an older value; wakes every waiter on `key`.
  virtual Status Set(std::string_view key, std::string_view value) = 0;
  // The value of `key`, waiting up to `timeout` for it to be set (DeadlineExceeded naming it).
  virtual StatusOr<std::string> Get(std::string_view key, absl::Duration timeout) = 0;
  // Waits until every key in `keys` is set; DeadlineExceeded naming the keys still missing.
  virtual Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) = 0;
  // Adds `delta` to the integer held in `key` (a missing key counts as 0) and returns the sum.
  // FailedPrecondition when the key holds something other than a decimal integer.
  virtual StatusOr<int64_t> Add(std::string_view key, int64_t delta) = 0;
  // Sets `key` to `desired` when its value equals `expected` (an empty `expected` matches a
  // missing key too) and returns the value now held, whether or not the swap happened.
  virtual StatusOr<std::string> CompareSet(std::string_view key, std::string_view expected,
                                           std::string_view desired) = 0;
  // Removes `key`; false when it was not there.
  virtual StatusOr<bool> Delete(std::string_view key) = 0;
  // Whether each key is set now, without waiting.
  virtual StatusOr<std::vector<bool>> Check(const std::vector<std::string>& keys) = 0;

  // The timeout the one-argument forms use.
  absl::Duration timeout() const { return timeout_; }
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }
  StatusOr<std::string> Get(std::string_view key) { return Get(key, timeout_); }
  Status Wait(const std::vector<std::string>& keys) { return Wait(keys, timeout_); }

 private:
  absl::Duration timeout_ = kDefaultTimeout;
};

struct TcpStoreOptions {
  // Where the store listens (the host) or connects (the others). Port 0 on the host picks a free
  // port; port() says which.
  std::string host = "127.0.0.1";
  int port = 0;
  // True in the process that serves the store (rank 0); it is also a client of its own server.
  bool is_server = false;
  // How long a client keeps retrying to connect while the host starts, and the default of every
  // blocking call. Raising it tolerates slower starts; a dead host is noticed that much later.
  absl::Duration timeout = kDefaultTimeout;
  // The listening address on the host: "" binds every interface (other hosts can reach it),
  // "127.0.0.1" only this machine.
  std::string bind_address = "";
};

// A store served over TCP by one process, with a length-prefixed request/response protocol
// (src/dist/tcp_store_protocol.h). The server runs on its own thread inside the hosting process
// and lives as long as that process's TcpStore object.
class TcpStore : public Store {
 public:
  // Starts the server (is_server) and connects. Unavailable when the port is in use or the host
  // does not answer within the timeout; both messages name host:port.
  static StatusOr<std::shared_ptr<TcpStore>> Open(const TcpStoreOptions& options);
  // The port the server listens on (the chosen one when options.port was 0).
  virtual int port() const = 0;
};

// A store kept in one file, locked with flock: for ranks that share a file system but no known
// host:port. Every call rereads the file, so it suits rendezvous traffic, not a heavy load.
class FileStore : public Store {
 public:
  static StatusOr<std::shared_ptr<FileStore>> Open(const std::string& path,
                                                   absl::Duration timeout = kDefaultTimeout);
};

// Keys prefixed by "<prefix>/", so several users (a communicator per group) share one store.
std::shared_ptr<Store> PrefixStore(std::string prefix, std::shared_ptr<Store> store);

// Where a group meets, as torch.distributed names it:
//   "tcp://host:port"  rank 0 serves a TcpStore at host:port, the others connect;
//   "file:///path"     a FileStore at /path;
//   "env://"           tcp://$MASTER_ADDR:$MASTER_PORT, with RANK and WORLD_SIZE from the
//                      environment when the options leave them at -1.
struct RendezvousOptions {
  std::string init_method = "env://";
  int rank = -1;
  int world_size = -1;
  absl::Duration timeout = kDefaultTimeout;
};

// The store of a group and the rank and world size the rendezvous settled.
struct Rendezvous {
  std::shared_ptr<Store> store;
  int rank = 0;
  int world_size = 0;
};

// Opens the store named by `options.init_method`. InvalidArgument (the same text on every rank)
// for a malformed method, a missing or bad MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE, or a rank
// outside [0, world_size); Unavailable for a port in use or an unreachable host.
StatusOr<Rendezvous> OpenRendezvous(const RendezvousOptions& options);

}  // namespace mlcore::dist

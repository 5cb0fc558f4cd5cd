// The init methods of torch.distributed: tcp://host:port, file:///path and env://.
#include <charconv>
#include <cstdlib>

#include "mlcore/dist/store.h"

namespace mlcore::dist {
namespace {

StatusOr<int> ParseInt(std::string_view text, std::string_view what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return absl::InvalidArgumentError(std::string(what) + " must be an integer, not '" +
                                      std::string(text) + "'");
  }
  return value;
}

// An environment variable that must be set; InvalidArgument naming it (and the init method).
StatusOr<std::string> RequiredEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    return absl::InvalidArgumentError(std::string("init_method env:// needs ") + name +
                                      " in the environment; it is not set");
  }
  return std::string(value);
}

Status CheckRankAndSize(int rank, int world_size, std::string_view method) {
  if (world_size < 1) {
    return absl::InvalidArgumentError("world size must be at least 1, not " +
                                      std::to_string(world_size) + " (" + std::string(method) +
                                      ")");
  }
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError("rank " + std::to_string(rank) +
                                      " is outside [0, world size " + std::to_string(world_size) +
                                      ")");
  }
  return absl::OkStatus();
}

StatusOr<std::shared_ptr<Store>> OpenTcp(std::string_view hostport, int rank,
                                         absl::Duration timeout) {
  size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError("tcp:// init method needs host:port, got '" +
                                      std::string(hostport) + "'");
  }
  std::string host(hostport.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  MLCORE_ASSIGN_OR_RETURN(int port, ParseInt(hostport.substr(colon + 1), "the port"));
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError("the port must be in [1, 65535], not " +
                                      std::to_string(port));
  }
  TcpStoreOptions options;
  options.host = host;
  options.port = port;
  options.is_server = rank == 0;
  options.timeout = timeout;
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<TcpStore> store, TcpStore::Open(options));
  return std::shared_ptr<Store>(std::move(store));
}

}  // namespace

StatusOr<Rendezvous> OpenRendezvous(const RendezvousOptions& options) {
  std::string_view method = options.init_method;
  Rendezvous out;
  out.rank = options.rank;
  out.world_size = options.world_size;
  std::string tcp_address;
  if (method.rfind("env://", 0) == 0) {
    if (out.rank < 0) {
      MLCORE_ASSIGN_OR_RETURN(std::string rank, RequiredEnv("RANK"));
      MLCORE_ASSIGN_OR_RETURN(out.rank, ParseInt(rank, "RANK"));
    }
    if (out.world_size < 0) {
      MLCORE_ASSIGN_OR_RETURN(std::string size, RequiredEnv("WORLD_SIZE"));
      MLCORE_ASSIGN_OR_RETURN(out.world_size, ParseInt(size, "WORLD_SIZE"));
    }
    MLCORE_ASSIGN_OR_RETURN(std::string addr, RequiredEnv("MASTER_ADDR"));
    MLCORE_ASSIGN_OR_RETURN(std::string port, RequiredEnv("MASTER_PORT"));
    MLCORE_RETURN_IF_ERROR(ParseInt(port, "MASTER_PORT").status());
    tcp_address = addr + ":" + port;
  } else if (method.rfind("tcp://", 0) == 0) {
    tcp_address = std::string(method.substr(6));
  } else if (method.rfind("file://", 0) != 0) {
    return absl::InvalidArgumentError("unknown init_method '" + std::string(method) +
                                      "' (known: tcp://host:port, file:///path, env://)");
  }
  if (out.rank < 0 || out.world_size < 0) {
    return absl::InvalidArgumentError("init_method " + std::string(method) +
                                      " needs rank and world_size");
  }
  MLCORE_RETURN_IF_ERROR(CheckRankAndSize(out.rank, out.world_size, method));
  if (!tcp_address.empty()) {
    MLCORE_ASSIGN_OR_RETURN(out.store, OpenTcp(tcp_address, out.rank, options.timeout));
  } else {
    std::string path(method.substr(7));
    if (path.empty()) return absl::InvalidArgumentError("file:// init method needs a path");
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<FileStore> store,
                            FileStore::Open(path, options.timeout));
    out.store = std::move(store);
  }
  out.store->set_timeout(options.timeout);
  return out;
}

}  // namespace mlcore::dist

#include "dist/tcp_store_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <map>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "dist/socket_util.h"
#include "dist/tcp_store_protocol.h"

namespace mlcore::dist::internal {

// The state lives on the server thread only; no locks.
class TcpStoreServer::Impl {
 public:
  Impl(int listen_fd, int port) : listen_fd_(listen_fd), port_(port) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
      wake_read_ = fds[0];
      wake_write_ = fds[1];
    }
    thread_ = std::thread([this] { Run(); });
  }

  ~Impl() {
    char b = 1;
    if (write(wake_write_, &b, 1) < 0) {
      // The thread then only stops at its next wake-up; close() below still ends it.
    }
    thread_.join();
    for (auto& entry : clients_) close(entry.first);
    close(listen_fd_);
    close(wake_read_);
    close(wake_write_);
  }

  int port() const { return port_; }

 private:
  struct Client {
    std::string inbox;  // bytes read but not yet a whole frame
    bool parked = false;
    StoreRequest request;  // the parked request
    absl::Time deadline;
  };

  void Run() {
    while (true) {
      std::vector<pollfd> fds;
      fds.push_back({wake_read_, POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      for (auto& entry : clients_) fds.push_back({entry.first, POLLIN, 0});
      int rc = poll(fds.data(), fds.size(), NextTimeoutMillis());
      if (rc < 0 && errno != EINTR) return;
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) Accept();
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents != 0) ReadFrom(fds[i].fd);
      }
      ExpireParked();
    }
  }

  int NextTimeoutMillis() const {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& entry : clients_) {
      if (entry.second.parked) next = std::min(next, entry.second.deadline);
    }
    if (next == absl::InfiniteFuture()) return -1;
    absl::Duration left = next - absl::Now();
    return left <= absl::ZeroDuration() ? 0 : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
  }

  void Accept() {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) clients_[fd];
  }

  void Drop(int fd) {
    close(fd);
    clients_.erase(fd);
  }

  void ReadFrom(int fd) {
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return Drop(fd);
    Client& client = clients_[fd];
    client.inbox.append(buf, static_cast<size_t>(n));
    while (client.inbox.size() >= 4 && !client.parked) {
      uint32_t size = ParseFrameHeader(client.inbox.data());
      if (size > kMaxFrameBytes) return Drop(fd);
      if (client.inbox.size() < 4 + size) return;
      StatusOr<StoreRequest> request =
          DecodeRequest(std::string_view(client.inbox).substr(4, size));
      client.inbox.erase(0, 4 + size);
      // A client that speaks another protocol is cut off: it cannot read an answer either.
      if (!request.ok()) return Drop(fd);
      if (!Handle(fd, client, *std::move(request))) return;
    }
  }

  // False when the connection was dropped.
  bool Handle(int fd, Client& client, StoreRequest request) {
    if (request.op == StoreOp::kGet || request.op == StoreOp::kWait) {
      if (!AllSet(request.keys)) {
        client.parked = true;
        client.deadline = absl::Now() + absl::Milliseconds(std::max<int64_t>(request.number, 0));
        client.request = std::move(request);
        return true;
      }
    }
    StoreResponse response = Apply(request);
    return Reply(fd, request.op, response);
  }

  bool Reply(int fd, StoreOp op, const StoreResponse& response) {
    std::string payload = EncodeResponse(op, response);
    if (!SendAll(fd, FrameHeader(static_cast<uint32_t>(payload.size())) + payload).ok()) {
      Drop(fd);
      return false;
    }
    return true;
  }

  bool AllSet(const std::vector<std::string>& keys) const {
    for (const std::string& key : keys) {
      if (data_.count(key) == 0) return false;
    }
    return true;
  }

  StoreResponse Apply(const StoreRequest& r) {
    StoreResponse out;
    const std::string& key = r.keys.empty() ? empty_ : r.keys[0];
    switch (r.op) {
      case StoreOp::kSet:
        data_[key] = r.value;
        WakeParked();
        break;
      case StoreOp::kGet:
        out.value = data_[key];
        break;
      case StoreOp::kWait:
        break;
      case StoreOp::kAdd: {
        int64_t current = 0;
        auto it = data_.find(key);
        if (it != data_.end()) {
          const std::string& s = it->second;
          auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), current);
          if (ec != std::errc() || end != s.data() + s.size()) {
            out.reply = StoreReply::kError;
            out.value = "the key '" + key + "' does not hold an integer";
            break;
          }
        }
        out.number = current + r.number;
        data_[key] = std::to_string(out.number);
        WakeParked();
        break;
      }
      case StoreOp::kCompareSet: {
        auto it = data_.find(key);
        bool matches = it == data_.end() ? r.expected.empty() : it->second == r.expected;
        if (matches) {
          data_[key] = r.value;
          WakeParked();
        }
        out.value = data_[key];
        break;
      }
      case StoreOp::kDelete:
        out.number = data_.erase(key) ? 1 : 0;
        break;
      case StoreOp::kCheck:
        for (const std::string& k : r.keys) out.found.push_back(data_.count(k) != 0);
        break;
    }
    return out;
  }

  void WakeParked() {
    std::vector<int> ready;
    for (auto& entry : clients_) {
      if (entry.second.parked && AllSet(entry.second.request.keys)) ready.push_back(entry.first);
    }
    for (int fd : ready) {
      Client& client = clients_[fd];
      client.parked = false;
      StoreRequest request = std::move(client.request);
      if (!Reply(fd, request.op, Apply(request))) continue;
    }
  }

  void ExpireParked() {
    absl::Time now = absl::Now();
    std::vector<int> expired;
    for (auto& entry : clients_) {
      if (entry.second.parked && entry.second.deadline <= now) expired.push_back(entry.first);
    }
    for (int fd : expired) {
      Client& client = clients_[fd];
      client.parked = false;
      StoreResponse response;
      response.reply = StoreReply::kTimeout;
      for (const std::string& key : client.request.keys) {
        if (data_.count(key) == 0) response.value += (response.value.empty() ? "" : ", ") + key;
      }
      Reply(fd, client.request.op, response);
    }
  }

  int listen_fd_;
  int port_;
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::map<int, Client> clients_;
  std::map<std::string, std::string> data_;
  const std::string empty_;
  std::thread thread_;
};

StatusOr<std::unique_ptr<TcpStoreServer>> TcpStoreServer::Start(const std::string& bind_address,
                                                                int port) {
  MLCORE_ASSIGN_OR_RETURN(Listener listener, Listen(bind_address, port));
  return std::unique_ptr<TcpStoreServer>(
      new TcpStoreServer(std::make_unique<Impl>(listener.fd, listener.port)));
}

TcpStoreServer::TcpStoreServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpStoreServer::~TcpStoreServer() = default;
int TcpStoreServer::port() const { return impl_->port(); }

}  // namespace mlcore::dist::internal

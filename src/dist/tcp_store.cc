// The client half of TcpStore. Each call borrows a connection from a small pool (opening one
// when none is free), so a thread parked in Wait never blocks another thread's Set.
#include <unistd.h>

#include <mutex>
#include <vector>

#include "dist/socket_util.h"
#include "dist/tcp_store_protocol.h"
#include "dist/tcp_store_server.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist {
namespace {

using internal::StoreOp;
using internal::StoreReply;
using internal::StoreRequest;
using internal::StoreResponse;

// How long past a blocking request's own timeout the client waits for the server's answer
// before calling the server gone.
constexpr absl::Duration kAnswerSlack = absl::Seconds(10);

class TcpStoreImpl : public TcpStore {
 public:
  TcpStoreImpl(TcpStoreOptions options, std::unique_ptr<internal::TcpStoreServer> server)
      : options_(std::move(options)), server_(std::move(server)) {
    set_timeout(options_.timeout);
    if (server_) options_.port = server_->port();
  }

  ~TcpStoreImpl() override {
    for (int fd : idle_) close(fd);
  }

  int port() const override { return options_.port; }

  Status Connect() {
    MLCORE_ASSIGN_OR_RETURN(
        int fd, internal::Connect(Host(), options_.port, absl::Now() + options_.timeout));
    Release(fd);
    return absl::OkStatus();
  }

  Status Set(std::string_view key, std::string_view value) override {
    StoreRequest r{StoreOp::kSet, {std::string(key)}, std::string(value), "", 0};
    return Call(r, absl::ZeroDuration()).status();
  }

  StatusOr<std::string> Get(std::string_view key, absl::Duration timeout) override {
    StoreRequest r{StoreOp::kGet, {std::string(key)}, "", "", Millis(timeout)};
    MLCORE_ASSIGN_OR_RETURN(StoreResponse out, Call(r, timeout));
    return std::move(out.value);
  }

  Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) override {
    StoreRequest r{StoreOp::kWait, keys, "", "", Millis(timeout)};
    return Call(r, timeout).status();
  }

  StatusOr<int64_t> Add(std::string_view key, int64_t delta) override {
    StoreRequest r{StoreOp::kAdd, {std::string(key)}, "", "", delta};
    MLCORE_ASSIGN_OR_RETURN(StoreResponse out, Call(r, absl::ZeroDuration()));
    return out.number;
  }

  StatusOr<std::string> CompareSet(std::string_view key, std::string_view expected,
                                   std::string_view desired) override {
    StoreRequest r{
        StoreOp::kCompareSet, {std::string(key)}, std::string(desired), std::string(expected), 0};
    MLCORE_ASSIGN_OR_RETURN(StoreResponse out, Call(r, absl::ZeroDuration()));
    return std::move(out.value);
  }

  StatusOr<bool> Delete(std::string_view key) override {
    StoreRequest r{StoreOp::kDelete, {std::string(key)}, "", "", 0};
    MLCORE_ASSIGN_OR_RETURN(StoreResponse out, Call(r, absl::ZeroDuration()));
    return out.number != 0;
  }

  StatusOr<std::vector<bool>> Check(const std::vector<std::string>& keys) override {
    StoreRequest r{StoreOp::kCheck, keys, "", "", 0};
    MLCORE_ASSIGN_OR_RETURN(StoreResponse out, Call(r, absl::ZeroDuration()));
    return std::move(out.found);
  }

 private:
  static int64_t Millis(absl::Duration d) {
    if (d == absl::InfiniteDuration()) return int64_t{1} << 50;
    return std::max<int64_t>(absl::ToInt64Milliseconds(d), 0);
  }

  std::string Host() const {
    return options_.host.empty() ? std::string("127.0.0.1") : options_.host;
  }

  std::string Where() const { return Host() + ":" + std::to_string(options_.port); }

  StatusOr<int> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        int fd = idle_.back();
        idle_.pop_back();
        return fd;
      }
    }
    // A later connection is to a server that already answered once: a short deadline suffices.
    return internal::Connect(Host(), options_.port, absl::Now() + absl::Seconds(5));
  }

  void Release(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(fd);
  }

  // One request and its answer on a pooled connection. `wait` is the request's own timeout.
  StatusOr<StoreResponse> Call(const StoreRequest& request, absl::Duration wait) {
    StatusOr<int> fd = Acquire();
    if (!fd.ok()) return Gone(fd.status());
    std::string payload = internal::EncodeRequest(request);
    Status sent = internal::SendAll(
        *fd, internal::FrameHeader(static_cast<uint32_t>(payload.size())) + payload);
    // A blocking request's answer comes at its own deadline; any other within the store's
    // timeout (a process that accepts connections but never answers is not a store).
    absl::Time deadline = wait == absl::InfiniteDuration() ? absl::InfiniteFuture()
                          : wait > absl::ZeroDuration()
                              ? absl::Now() + wait + kAnswerSlack
                              : absl::Now() + std::min(timeout(), kAnswerSlack);
    char header[4];
    std::string body;
    Status got = sent.ok() ? internal::RecvExactly(*fd, header, 4, deadline) : sent;
    if (got.ok()) {
      uint32_t size = internal::ParseFrameHeader(header);
      if (size > internal::kMaxFrameBytes) {
        got =
            absl::DataLossError("the store answered a frame of " + std::to_string(size) + " bytes");
      } else {
        body.resize(size);
        got = internal::RecvExactly(*fd, body.data(), size, deadline);
      }
    }
    if (!got.ok()) {
      close(*fd);
      return Gone(got);
    }
    StatusOr<StoreResponse> response = internal::DecodeResponse(request.op, body);
    if (!response.ok()) {
      close(*fd);
      return response.status();
    }
    Release(*fd);
    if (response->reply == StoreReply::kTimeout) {
      return absl::DeadlineExceededError("store: timed out after " + absl::FormatDuration(wait) +
                                         " waiting for key(s) " + response->value);
    }
    if (response->reply == StoreReply::kError) {
      return absl::FailedPreconditionError("store: " + response->value);
    }
    return response;
  }

  Status Gone(const Status& cause) const {
    return absl::UnavailableError(
        "the store at " + Where() +
        " is gone (rank 0, its host, exited or is unreachable): " + std::string(cause.message()));
  }

  TcpStoreOptions options_;
  std::unique_ptr<internal::TcpStoreServer> server_;
  std::mutex mu_;
  std::vector<int> idle_;
};

}  // namespace

StatusOr<std::shared_ptr<TcpStore>> TcpStore::Open(const TcpStoreOptions& options) {
  std::unique_ptr<internal::TcpStoreServer> server;
  TcpStoreOptions resolved = options;
  if (options.is_server) {
    MLCORE_ASSIGN_OR_RETURN(server,
                            internal::TcpStoreServer::Start(options.bind_address, options.port));
    // The host reaches its own server on the loopback when it listens on every interface.
    if (options.bind_address.empty()) resolved.host = "127.0.0.1";
  }
  auto store = std::make_shared<TcpStoreImpl>(resolved, std::move(server));
  MLCORE_RETURN_IF_ERROR(store->Connect());
  return std::shared_ptr<TcpStore>(std::move(store));
}

}  // namespace mlcore::dist

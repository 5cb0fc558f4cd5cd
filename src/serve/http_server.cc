// The HTTP front end on Boost.Beast: one io_context per thread, connections spread over them,
// keep-alive, limits on header and body size, a time limit for each, and a drain on Stop.
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "serve/http_codec.h"
#include "serve/http_router.h"

namespace mlcore::serve::internal {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct Shared {
  ModelManager& models;
  const ServerOptions& options;
  Router router;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> in_flight{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), shared_(shared) {}

  void Start() { ReadHeader(); }

 private:
  // Beast's own stream expiry closes the socket, which leaves no way to answer 408; this timer
  // cancels the read instead, so the handler can still write the answer.
  void Arm(int64_t ms) {
    timed_out_ = false;
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || self == nullptr) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  beast::error_code Disarm(beast::error_code ec) {
    timer_.cancel();
    if (timed_out_ && ec) return beast::error::timeout;
    return ec;
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_.options.max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(shared_.options.max_request_bytes));
    // The first request has header_timeout_ms to arrive; a kept-alive connection may idle.
    int64_t ms = first_ ? shared_.options.header_timeout_ms : shared_.options.idle_timeout_ms;
    Arm(ms);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(self->Disarm(ec));
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Fail(ec);
    first_ = false;
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    Arm(shared_.options.body_timeout_ms);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       ec = self->Disarm(ec);
                       if (ec) return self->Fail(ec);
                       self->OnRequest();
                     });
  }

  // A request that could not be read: answered when the client deserves to know why, then
  // the connection closes (its framing can no longer be trusted).
  void Fail(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return Close();
    }
    bool idle = ec == beast::error::timeout && buffer_.size() == 0 && !parser_->got_some();
    if (idle) return Close();
    Status status;
    if (ec == http::error::body_limit) {
      status = absl::OutOfRangeError(absl::StrCat("the request body is over the limit of ",
                                                  shared_.options.max_request_bytes, " bytes"));
    } else if (ec == http::error::header_limit) {
      status = absl::OutOfRangeError("the request headers are too large");
    } else if (ec == beast::error::timeout) {
      status = absl::DeadlineExceededError("the request did not arrive in time");
    } else {
      status = absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    HttpReply reply = ErrorReply(status);
    if (ec == beast::error::timeout) reply.status = 408;
    keep_alive_ = false;
    counted_ = false;
    Write(std::move(reply));
  }

  void OnRequest() {
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    if (shared_.stopping) {
      keep_alive_ = false;
      counted_ = false;
      return Write(ErrorReply(absl::UnavailableError("the server is shutting down")));
    }
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = std::string(req[http::field::authorization]);
    request.body = std::move(req.body());
    auto header = req.find("Inference-Header-Content-Length");
    if (header != req.end()) {
      int64_t n = -1;
      if (!absl::SimpleAtoi(absl::string_view(header->value().data(), header->value().size()),
                            &n) ||
          n < 0) {
        counted_ = false;
        return Write(ErrorReply(
            absl::InvalidArgumentError("Inference-Header-Content-Length must be a number")));
      }
      request.header_length = n;
    }
    head_ = req.method() == http::verb::head;
    ++shared_.in_flight;
    counted_ = true;
    auto self = shared_from_this();
    shared_.router.Handle(std::move(request), [self](HttpReply reply) {
      // Replies may come from a model worker: the write belongs on this connection's strand.
      net::post(self->stream_.get_executor(),
                [self, reply = std::move(reply)]() mutable { self->Write(std::move(reply)); });
    });
  }

  void Write(HttpReply reply) {
    shared_.models.RecordFrontendOutcome("http", reply.status);
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(reply.status));
    res->set(http::field::server, "mlcore");
    res->set(http::field::content_type, reply.content_type);
    if (reply.header_length >= 0) {
      res->set("Inference-Header-Content-Length", absl::StrCat(reply.header_length));
    }
    if (reply.status == 503) res->set(http::field::retry_after, "1");
    for (const auto& [name, value] : reply.headers) res->set(name, value);
    if (shared_.stopping) keep_alive_ = false;
    res->keep_alive(keep_alive_);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    if (head_) res->body().clear();
    Arm(shared_.options.body_timeout_ms);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        ec = self->Disarm(ec);
                        if (self->counted_) --self->shared_.in_flight;
                        self->counted_ = false;
                        if (ec || !self->keep_alive_) return self->Close();
                        self->ReadHeader();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  net::steady_timer timer_;
  bool timed_out_ = false;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool first_ = true;
  bool keep_alive_ = true;
  bool counted_ = false;
  bool head_ = false;
};

class HttpFrontend : public Frontend {
 public:
  HttpFrontend(ModelManager& models, const ServerOptions& options, int port)
      : options_(options), port_(port), shared_{models, options_, Router(models, options_)} {
    int threads = options_.http_threads > 0 ? options_.http_threads
                                            : std::max(1u, std::thread::hardware_concurrency());
    for (int i = 0; i < threads; ++i) contexts_.push_back(std::make_unique<net::io_context>(1));
  }
  ~HttpFrontend() override { Stop(0); }

  Status Start() override {
    beast::error_code ec;
    auto address = net::ip::make_address(options_.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad host '", options_.host, "'"));
    acceptor_.emplace(*contexts_[0]);
    tcp::endpoint endpoint(address, static_cast<uint16_t>(port_));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.host, ":", port_, ": ", ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
    for (auto& context : contexts_) guards_.emplace_back(net::make_work_guard(*context));
    Accept();
    for (auto& context : contexts_) {
      threads_.emplace_back([c = context.get()] { c->run(); });
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Stop(int64_t drain_ms) override {
    if (threads_.empty()) return;
    shared_.stopping = true;
    net::post(*contexts_[0], [this] {
      beast::error_code ec;
      acceptor_->close(ec);
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
    while (shared_.in_flight > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    guards_.clear();
    for (auto& context : contexts_) context->stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Accept() {
    net::io_context& next = *contexts_[next_++ % contexts_.size()];
    acceptor_->async_accept(net::make_strand(next), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || shared_.stopping) return;
        MLCORE_LOG(Warning) << "http accept: " << ec.message();
      } else {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(s), shared_)->Start();
      }
      if (!shared_.stopping) Accept();
    });
  }

  const ServerOptions options_;
  int port_;
  Shared shared_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::optional<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  size_t next_ = 0;
};

StatusOr<std::unique_ptr<Frontend>> NewHttpFrontend(ModelManager& models,
                                                    const ServerOptions& options, int port) {
  return std::unique_ptr<Frontend>(new HttpFrontend(models, options, port));
}

Registrar<FrontendFactory> registration(FrontendRegistry(), "http", &NewHttpFrontend);

}  // namespace
}  // namespace mlcore::serve::internal

// Real S3 servers for the S3 tests: moto's server mode in a child Python process (the tests skip,
// saying why, where Python or moto[server] is missing), and a scripted 127.0.0.1 HTTP server
// that answers each request with the next canned status (500 then 200, always 503...), to test
// retries and error texts against real sockets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/core/subprocess.h"
#include "mlcore/store/s3_client.h"

namespace mlcore::store::testing {

#ifndef MLCORE_TEST_PYTHON
#define MLCORE_TEST_PYTHON "python3"
#endif

// Fixed, fake credentials: moto accepts any.
inline S3Options MotoOptions(int port) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  o.region = "us-east-1";
  o.access_key_id = "mlcore-test";
  o.secret_access_key = "mlcore-test-secret";
  o.max_attempts = 3;
  o.initial_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(50);
  return o;
}

class MotoServer {
 public:
  // Starts moto on a free port; port() is 0 (and why() says why) when it could not start.
  MotoServer() {
    const char* env_python = std::getenv("MLCORE_TEST_PYTHON");
    const std::string python = env_python != nullptr ? env_python : MLCORE_TEST_PYTHON;
    std::promise<int> port;
    auto ready = port.get_future();
    runner_ = std::thread([this, python, p = std::move(port)]() mutable {
      SubprocessOptions o;
      o.argv = {python, "-c",
                "import logging, threading\n"
                "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
                "from moto.server import ThreadedMotoServer\n"
                "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
                "s.start()\n"
                "print(s.get_host_and_port()[1], flush=True)\n"
                "threading.Event().wait()\n"};
      o.kill_grace = absl::ZeroDuration();
      o.timeout = absl::Minutes(10);
      bool told = false;
      o.on_stdout_line = [&](std::string_view line) {
        if (!told) p.set_value(std::atoi(std::string(line).c_str()));
        told = true;
        return true;
      };
      auto child = Subprocess::Start(o);
      if (!child.ok()) {
        why_ = std::string(child.status().message());
        p.set_value(0);
        return;
      }
      child_ = child->get();
      auto result = (*child)->Wait();
      child_ = nullptr;
      if (!told) {
        why_ = python + " could not start moto's server (pip install 'moto[server]'): " +
               (result.ok() ? result->stderr_tail : std::string(result.status().message()));
        p.set_value(0);
      }
    });
    if (ready.wait_for(std::chrono::seconds(60)) == std::future_status::ready) port_ = ready.get();
    if (port_ == 0 && why_.empty()) why_ = "moto's server did not start within 60 s";
  }
  ~MotoServer() {
    if (Subprocess* c = child_.load()) c->Cancel();
    runner_.join();
  }
  int port() const { return port_; }
  const std::string& why() const { return why_; }

 private:
  std::thread runner_;
  std::atomic<Subprocess*> child_{nullptr};
  int port_ = 0;
  std::string why_;
};

// The one moto server of a test program, started by its first user.
inline MotoServer& Moto() {
  static MotoServer* server = new MotoServer();
  return *server;
}

// Skips the test, saying why, where moto's server could not start.
#define SKIP_WITHOUT_MOTO()                         \
  if (::mlcore::store::testing::Moto().port() == 0) \
  GTEST_SKIP() << ::mlcore::store::testing::Moto().why()

// A client of Moto(), with `o`'s multipart threshold and part size.
inline std::unique_ptr<S3Client> MotoClient(S3Options o = {}) {
  S3Options base = MotoOptions(Moto().port());
  base.multipart_threshold = o.multipart_threshold;
  base.part_size = o.part_size;
  auto client = S3Client::Open(base);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// A scripted answer: status and body (an S3 <Error> document or nothing), plus extra headers.
struct CannedAnswer {
  int status = 200;
  std::string body;
  std::string headers;  // "Name: value\r\n" lines
};

// Answers the i-th request with script[i] (the last one again once the script runs out), one
// request per connection. Counts requests.
class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::vector<CannedAnswer> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buffer[65536];
      size_t need = std::string::npos;
      while (request.size() < need) {
        ssize_t n = ::recv(c, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
        size_t head = request.find("\r\n\r\n");
        if (head != std::string::npos && need == std::string::npos) {
          size_t length = 0;
          size_t at = request.find("Content-Length: ");
          if (at == std::string::npos) at = request.find("content-length: ");
          if (at != std::string::npos && at < head) length = std::stoul(request.substr(at + 16));
          need = head + 4 + length;
        }
      }
      const int i = requests_++;
      const CannedAnswer& a = script_[std::min<size_t>(i, script_.size() - 1)];
      const bool head = request.rfind("HEAD ", 0) == 0;
      std::string reply = "HTTP/1.1 " + std::to_string(a.status) + " Scripted\r\n" + a.headers +
                          "Content-Length: " + std::to_string(a.body.size()) +
                          "\r\nConnection: close\r\n\r\n" + (head ? "" : a.body);
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::vector<CannedAnswer> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

inline std::string ErrorDocument(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" +
         message + "</Message></Error>";
}

}  // namespace mlcore::store::testing

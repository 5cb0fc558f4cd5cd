// The embeddable inference server: a ModelManager plus its network front ends (HTTP, and gRPC
// when a "grpc" front end is registered and grpc_port is set). Start returns once the front ends
// listen; Stop stops accepting, answers what is in flight (up to drain_timeout_ms), then unloads.
//   mlcore::serve::Server server({.http_port = 0});
//   server.AddModel("digits", "ckpt/", {.max_batch_size = 32});
//   server.Start();  // server.url() is "http://127.0.0.1:<port>"
// Registry models: server.AddRegistryModel("digits", "digits@production", {},
//                                          *registry::MakeServeResolver({.home = home}));
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"
#include "mlcore/serve/model_manager.h"

namespace mlcore::serve {

// A part of the HTTP front end's path space handed to other code (the dashboard mounts itself
// at /ui). The handler runs on a front-end thread and answers at once; it does its own auth (the
// server's auth_token does not apply under a mount).
struct HttpMountRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the full path and query, prefix included
  std::string body;
  std::string authorization;  // the Authorization header
};
struct HttpMountReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};
struct HttpMount {
  std::string prefix;  // "/ui": answers "/ui", "/ui/..." and "/ui?..."
  std::function<HttpMountReply(const HttpMountRequest&)> handler;
};

struct ServerOptions {
  // Interface the front ends bind; loopback unless told otherwise.
  std::string host = "127.0.0.1";
  int http_port = 8080;  // 0: any free port (read it back with http_port()); -1: no HTTP
  int grpc_port = -1;    // -1: no gRPC; 0: any free port
  int http_threads = 0;  // io_contexts (one thread each); 0: one per core
  // Non-empty: every endpoint but /v2/health/* and /v1 health answers 401 without
  // "Authorization: Bearer <token>" (compared in constant time).
  std::string auth_token;
  int64_t max_request_bytes = 64 << 20;  // larger bodies: 413
  int64_t max_header_bytes = 16 << 10;   // larger header blocks: 431/413
  int64_t header_timeout_ms = 10000;     // a request's headers must arrive within this
  int64_t body_timeout_ms = 30000;       // and its body within this after them
  int64_t idle_timeout_ms = 60000;       // a keep-alive connection idle longer is closed
  int64_t drain_timeout_ms = 10000;      // Stop waits this long for requests in flight
  ManagerOptions models;
  // Handlers for path prefixes, looked up before the inference endpoints.
  std::vector<HttpMount> http_mounts;
  // Non-empty: the server records itself (url, pid, start time, its models and request counts,
  // refreshed every few seconds) in <record_home>/mlcore.db, so `mlcore ui` can list it.
  std::string record_home;
};

// A network front end over a ModelManager. "http" is built in; "grpc" is registered by the gRPC
// front end (src/serve/grpc*) when the library is built with gRPC.
class Frontend {
 public:
  virtual ~Frontend() = default;
  // Binds and starts serving; returns once the port accepts connections.
  virtual Status Start() = 0;
  // The bound port (after Start).
  virtual int port() const = 0;
  // Stops accepting, lets requests in flight finish for up to `drain_ms`, then closes.
  virtual void Stop(int64_t drain_ms) = 0;
};

// `port` is the port to bind (0: any free one).
using FrontendFactory = std::function<StatusOr<std::unique_ptr<Frontend>>(
    ModelManager& models, const ServerOptions& options, int port)>;
Registry<FrontendFactory>& FrontendRegistry();

class ServerRecord;  // src/serve/server_record.h

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  ModelManager& models() { return *models_; }
  const ServerOptions& options() const { return options_; }

  // Shorthands for models().
  Status AddModel(const std::string& name, const std::string& path, ModelConfig config = {}) {
    return models_->AddModel(name, path, std::move(config));
  }
  // Serves the registry model `reference` (`name`, `name/3`, `name@production`) as `name`,
  // through `resolver` (registry::MakeServeResolver; null: options.models.resolver). An alias
  // is re-resolved on every poll (ManagerOptions::registry_poll_interval_ms, 1 s by default):
  // when it moves, the new version is ready before the old one goes, so no request fails.
  Status AddRegistryModel(const std::string& name, const std::string& reference,
                          ModelConfig config = {},
                          std::shared_ptr<ModelResolver> resolver = nullptr) {
    return models_->AddRegistryModel(name, reference, std::move(config), std::move(resolver));
  }
  StatusOr<InferResponse> Infer(const InferRequest& request) { return models_->Infer(request); }

  // Starts the manager (repository load, polling) and the front ends; returns at once after
  // they listen. FailedPrecondition when already started; Unavailable when a port is taken;
  // NotFound when grpc_port is set but no "grpc" front end is built in.
  Status Start();
  // Idempotent; the destructor calls it.
  void Stop();
  bool running() const { return running_; }

  // "http://<host>:<port>" of the HTTP front end (after Start); empty without one.
  std::string url() const;
  int http_port() const;  // -1 without one
  int grpc_port() const;  // -1 without one

 private:
  ServerOptions options_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<Frontend> http_;
  std::unique_ptr<Frontend> grpc_;
  std::unique_ptr<ServerRecord> record_;  // when options.record_home is set
  bool running_ = false;
};

}  // namespace mlcore::serve

// Server: the model manager and its front ends, started and stopped together.
#include "mlcore/serve/server.h"

#include "absl/strings/str_cat.h"
#include "serve/server_record.h"

namespace mlcore::serve {

Registry<FrontendFactory>& FrontendRegistry() {
  static auto* registry = new Registry<FrontendFactory>("serving front end");
  return *registry;
}

Server::Server(ServerOptions options)
    : options_(std::move(options)), models_(std::make_unique<ModelManager>(options_.models)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (running_) return absl::FailedPreconditionError("the server is already started");
  MLCORE_RETURN_IF_ERROR(models_->Start());
  auto start = [&](const char* kind, int port, std::unique_ptr<Frontend>* out) -> Status {
    if (port < 0) return absl::OkStatus();
    StatusOr<FrontendFactory> factory = FrontendRegistry().Find(kind);
    if (!factory.ok()) {
      return absl::NotFoundError(absl::StrCat("this build has no ", kind, " front end (",
                                              factory.status().message(), ")"));
    }
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Frontend> frontend,
                            (*factory)(*models_, options_, port));
    MLCORE_RETURN_IF_ERROR(frontend->Start());
    *out = std::move(frontend);
    return absl::OkStatus();
  };
  Status started = start("http", options_.http_port, &http_);
  if (started.ok()) started = start("grpc", options_.grpc_port, &grpc_);
  if (started.ok() && !options_.record_home.empty()) {
    StatusOr<std::unique_ptr<ServerRecord>> record =
        ServerRecord::Start(options_.record_home, *this);
    if (record.ok()) record_ = *std::move(record);
    started = record.status();
  }
  if (!started.ok()) {
    if (http_ != nullptr) http_->Stop(0);
    http_.reset();
    if (grpc_ != nullptr) grpc_->Stop(0);
    grpc_.reset();
    models_->Stop();
    return started;
  }
  running_ = true;
  return absl::OkStatus();
}

void Server::Stop() {
  if (!running_) return;
  running_ = false;
  record_.reset();
  // Front ends first, so what they accepted is answered before the models go.
  if (http_ != nullptr) http_->Stop(options_.drain_timeout_ms);
  if (grpc_ != nullptr) grpc_->Stop(options_.drain_timeout_ms);
  models_->Stop();
}

std::string Server::url() const {
  if (http_ == nullptr) return "";
  return absl::StrCat("http://", options_.host, ":", http_->port());
}

int Server::http_port() const { return http_ == nullptr ? -1 : http_->port(); }
int Server::grpc_port() const { return grpc_ == nullptr ? -1 : grpc_->port(); }

}  // namespace mlcore::serve

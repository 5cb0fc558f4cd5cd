// The gRPC front end's server: binds, serves InferenceService, drains on Stop. Exported to
// libmlcore's loader (src/serve/grpc_loader.cc) through one C entry point, so this library, and
// grpc++ with it, is mapped only by processes that serve gRPC.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "mlcore/serve/server.h"
#include "serve/grpc/service.h"

namespace mlcore::serve::grpc_frontend {
namespace {

class GrpcFrontend final : public Frontend {
 public:
  GrpcFrontend(ModelManager& models, const ServerOptions& options, int port)
      : options_(options), requested_port_(port), service_(models, options.auth_token) {}

  ~GrpcFrontend() override { Stop(0); }

  Status Start() override {
    if (server_) return absl::FailedPreconditionError("the gRPC front end is already started");
    // An IPv6 literal needs brackets in a gRPC address.
    const std::string host = options_.host.find(':') == std::string::npos
                                 ? options_.host
                                 : absl::StrCat("[", options_.host, "]");
    const std::string address = absl::StrCat(host, ":", requested_port_);
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default, which would let a second server bind a port already in
    // use and silently split its connections: a taken port must be an error.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(
        static_cast<int>(std::min<int64_t>(options_.max_request_bytes, INT32_MAX)));
    builder.SetMaxSendMessageSize(INT32_MAX);
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      server_.reset();
      return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", address,
                                                 " (port taken or address not local)"));
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Stop(int64_t drain_ms) override {
    if (!server_) return;
    // Refuses new calls at once; calls in flight get until the deadline, then are cancelled.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(drain_ms));
    server_->Wait();
    server_.reset();
  }

 private:
  ServerOptions options_;
  int requested_port_;
  int port_ = 0;
  InferenceService service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace
}  // namespace mlcore::serve::grpc_frontend

extern "C" __attribute__((visibility("default"))) const mlcore::serve::FrontendFactory*
mlcore_grpc_frontend_factory() {
  using mlcore::serve::Frontend;
  static const auto* factory = new mlcore::serve::FrontendFactory(
      [](mlcore::serve::ModelManager& models, const mlcore::serve::ServerOptions& options,
         int port) -> mlcore::StatusOr<std::unique_ptr<Frontend>> {
        return std::unique_ptr<Frontend>(
            new mlcore::serve::grpc_frontend::GrpcFrontend(models, options, port));
      });
  return factory;
}

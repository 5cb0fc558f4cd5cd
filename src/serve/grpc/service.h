// inference.GRPCInferenceService over a ModelManager, on gRPC's callback API: ModelInfer hands
// the request to ModelManager::AsyncInfer and finishes the call from the batcher's callback, so
// no gRPC thread waits while a request sits in a batch.
#pragma once

#include <string>

#include "inference.grpc.pb.h"
#include "mlcore/serve/model_manager.h"

namespace mlcore::serve::grpc_frontend {

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `auth_token` non-empty: every RPC but ServerLive and ServerReady needs the metadata
  // "authorization: Bearer <auth_token>" (UNAUTHENTICATED otherwise).
  InferenceService(ModelManager& models, std::string auth_token);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* ctx,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse* response) override;

 private:
  // The call's reactor finished with `status`, counted in the server's metrics when it failed.
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const Status& status);
  // OK, or UNAUTHENTICATED when a token is required and the call does not carry it.
  Status CheckToken(grpc::CallbackServerContext* ctx) const;

  ModelManager& models_;
  const std::string expected_authorization_;  // "Bearer <token>", or empty
};

}  // namespace mlcore::serve::grpc_frontend

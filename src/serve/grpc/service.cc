#include "serve/grpc/service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "mlcore/build_config.h"
#include "serve/grpc/convert.h"
#include "serve/http_router.h"

namespace mlcore::serve::grpc_frontend {
namespace {

// Compares without stopping at the first difference and over the expected length whatever was
// given, so the time taken says nothing about how much of a guessed token was right.
bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto g = static_cast<unsigned char>(i < given.size() ? given[i] : 0);
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

inference::DataType ConfigType(DataType type) {
  switch (type) {
    case DataType::kBool:
      return inference::TYPE_BOOL;
    case DataType::kUInt8:
      return inference::TYPE_UINT8;
    case DataType::kUInt16:
      return inference::TYPE_UINT16;
    case DataType::kUInt32:
      return inference::TYPE_UINT32;
    case DataType::kUInt64:
      return inference::TYPE_UINT64;
    case DataType::kInt8:
      return inference::TYPE_INT8;
    case DataType::kInt16:
      return inference::TYPE_INT16;
    case DataType::kInt32:
      return inference::TYPE_INT32;
    case DataType::kInt64:
      return inference::TYPE_INT64;
    case DataType::kFP16:
      return inference::TYPE_FP16;
    case DataType::kBF16:
      return inference::TYPE_BF16;
    case DataType::kFP32:
      return inference::TYPE_FP32;
    case DataType::kFP64:
      return inference::TYPE_FP64;
    case DataType::kBytes:
      return inference::TYPE_STRING;
  }
  return inference::TYPE_INVALID;
}

void FillTensorMetadata(const TensorInfo& info,
                        inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(info.name);
  out->set_datatype(DataTypeName(info.datatype));
  for (int64_t d : info.shape) out->add_shape(d);
}

// A signature shape as the model configuration states it: without the batch axis when the
// server batches (Triton's convention).
template <typename ConfigTensor>
void FillConfigTensor(const TensorInfo& info, bool batching, ConfigTensor* out) {
  out->set_name(info.name);
  out->set_data_type(ConfigType(info.datatype));
  const size_t skip = batching && !info.shape.empty() ? 1 : 0;
  for (size_t i = skip; i < info.shape.size(); ++i) out->add_dims(info.shape[i]);
}

void FillDuration(const DurationStat& d, inference::StatisticDuration* out) {
  out->set_count(d.count);
  out->set_ns(d.ns);
}

void FillStatistics(const ModelStatistics& s, inference::ModelStatistics* out) {
  out->set_name(s.name);
  out->set_version(s.version);
  out->set_last_inference(s.last_inference_ms);
  out->set_inference_count(s.inference_count);
  out->set_execution_count(s.execution_count);
  auto* stats = out->mutable_inference_stats();
  FillDuration(s.success, stats->mutable_success());
  FillDuration(s.fail, stats->mutable_fail());
  FillDuration(s.queue, stats->mutable_queue());
  FillDuration(s.compute_input, stats->mutable_compute_input());
  FillDuration(s.compute_infer, stats->mutable_compute_infer());
  FillDuration(s.compute_output, stats->mutable_compute_output());
  for (const BatchStat& b : s.batch_stats) {
    auto* batch = out->add_batch_stats();
    batch->set_batch_size(static_cast<uint64_t>(b.batch_size));
    FillDuration(b.compute, batch->mutable_compute_infer());
  }
}

// Repository parameters mlcore does not act on are refused rather than ignored: a client that
// sends a config override must not believe it was applied. Triton's clients always send
// unload_dependents, which has nothing to act on here (models do not depend on one another
// except through "sequence" steps, which load on their own).
template <typename Request>
Status CheckRepositoryParameters(const Request& request) {
  for (const auto& [key, value] : request.parameters()) {
    if (key == "unload_dependents") continue;
    return absl::InvalidArgumentError(
        absl::StrCat("repository parameter '", key,
                     "' is not supported: mlcore reads a model's config from its repository"));
  }
  return absl::OkStatus();
}

}  // namespace

InferenceService::InferenceService(ModelManager& models, std::string auth_token)
    : models_(models),
      expected_authorization_(auth_token.empty() ? "" : absl::StrCat("Bearer ", auth_token)) {}

grpc::ServerUnaryReactor* InferenceService::Done(grpc::CallbackServerContext* ctx,
                                                 const Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

Status InferenceService::CheckToken(grpc::CallbackServerContext* ctx) const {
  if (expected_authorization_.empty()) return absl::OkStatus();
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end() &&
      ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()),
                         expected_authorization_)) {
    return absl::OkStatus();
  }
  models_.RecordFrontendOutcome("grpc", 401);
  return absl::UnauthenticatedError("missing or wrong bearer token (metadata 'authorization')");
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(models_.IsLive());
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(models_.IsReady());
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  response->set_ready(models_.IsModelReady(request->name(), request->version()));
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  response->set_name("mlcore");
  response->set_version(MLCORE_VERSION_STRING);
  for (const char* extension : {"model_repository", "model_configuration", "statistics"}) {
    response->add_extensions(extension);
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  StatusOr<serve::ModelMetadata> metadata = models_.Metadata(request->name(), request->version());
  if (!metadata.ok()) return Done(ctx, metadata.status());
  response->set_name(metadata->name);
  for (const std::string& v : metadata->versions) response->add_versions(v);
  response->set_platform(metadata->platform);
  for (const TensorInfo& t : metadata->inputs) FillTensorMetadata(t, response->add_inputs());
  for (const TensorInfo& t : metadata->outputs) FillTensorMetadata(t, response->add_outputs());
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  InferRequest converted;
  if (Status st = FromProto(*request, &converted); !st.ok()) {
    models_.RecordFrontendOutcome("grpc", internal::HttpStatusOf(st));
    return Done(ctx, st);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The response message and the reactor live until Finish, whichever thread calls it.
  models_.AsyncInfer(std::move(converted), [reactor, response](StatusOr<InferResponse> result) {
    if (!result.ok()) {
      reactor->Finish(ToGrpcStatus(result.status()));
      return;
    }
    ToProto(*result, response);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(
    grpc::CallbackServerContext* ctx, const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  StatusOr<serve::ModelConfig> config = models_.Config(request->name());
  if (!config.ok()) return Done(ctx, config.status());
  StatusOr<serve::ModelMetadata> metadata = models_.Metadata(request->name(), request->version());
  if (!metadata.ok()) return Done(ctx, metadata.status());
  auto* out = response->mutable_config();
  out->set_name(request->name());
  out->set_platform(metadata->platform);
  out->set_backend(config->backend);
  out->set_max_batch_size(static_cast<int32_t>(config->max_batch_size));
  const bool batching = config->max_batch_size > 0;
  for (const TensorInfo& t : metadata->inputs) FillConfigTensor(t, batching, out->add_input());
  for (const TensorInfo& t : metadata->outputs) FillConfigTensor(t, batching, out->add_output());
  auto* group = out->add_instance_group();
  group->set_name(request->name());
  group->set_count(static_cast<int32_t>(config->instance_count));
  if (batching) {
    auto* batcher = out->mutable_dynamic_batching();
    for (int64_t size : config->preferred_batch_sizes) {
      batcher->add_preferred_batch_size(static_cast<int32_t>(size));
    }
    batcher->set_max_queue_delay_microseconds(static_cast<uint64_t>(config->max_queue_delay_us));
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(
    grpc::CallbackServerContext* ctx, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  auto stats = models_.Statistics(request->name(), request->version());
  if (!stats.ok()) return Done(ctx, stats.status());
  for (const serve::ModelStatistics& s : *stats) FillStatistics(s, response->add_model_stats());
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(
    grpc::CallbackServerContext* ctx, const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  for (const RepositoryEntry& e : models_.RepositoryIndex()) {
    if (request->ready() && e.state != ModelState::kReady) continue;
    auto* model = response->add_models();
    model->set_name(e.name);
    model->set_version(e.version);
    model->set_state(ModelStateName(e.state));
    model->set_reason(e.reason);
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  if (Status st = CheckRepositoryParameters(*request); !st.ok()) return Done(ctx, st);
  return Done(ctx, models_.LoadModel(request->model_name()));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  if (Status st = CheckToken(ctx); !st.ok()) return Done(ctx, st);
  if (Status st = CheckRepositoryParameters(*request); !st.ok()) return Done(ctx, st);
  return Done(ctx, models_.UnloadModel(request->model_name()));
}

}  // namespace mlcore::serve::grpc_frontend

// Between the Open Inference Protocol's protobuf messages and the serving core's requests and
// responses. Inputs arrive as typed contents or as raw little-endian bytes (raw_input_contents,
// the layout InferTensor::data already has, so they are not re-encoded); outputs always
// leave as raw bytes, as Triton answers, which every V2 client reads. gRPC hands the request over
// const, so raw inputs are copied once into the InferTensor.
#pragma once

#include <grpcpp/grpcpp.h>

#include "inference.pb.h"
#include "mlcore/core/status.h"
#include "mlcore/serve/model_manager.h"

namespace mlcore::serve::grpc_frontend {

// Fills `out` from `in`. InvalidArgument saying
// which input is wrong: an unknown datatype, raw and typed contents mixed, a raw count that is
// not one per input, typed contents of the wrong kind or out of the datatype's range, element
// counts that do not match the shape.
Status FromProto(const inference::ModelInferRequest& in, InferRequest* out);

// Fills `out` from `in` (consumed), outputs in raw_output_contents.
void ToProto(InferResponse& in, inference::ModelInferResponse* out);

// absl and gRPC share their status codes (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...).
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace mlcore::serve::grpc_frontend

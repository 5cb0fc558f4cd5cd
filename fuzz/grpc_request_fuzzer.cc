// gRPC ModelInfer requests as the front end receives them: protobuf bytes parsed by libprotobuf,
// then converted to the serving core's request (src/serve/grpc/convert.cc), whose tensors must
// then hold exactly what their shapes say. Linked with the converter and protobuf by
// cmake/grpc.cmake; a build without gRPC compiles this to a target that only returns.
#include <cstddef>
#include <cstdint>

#if __has_include("inference.pb.h")
#include "serve/grpc/convert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  mlcore::serve::InferRequest converted;
  if (!mlcore::serve::grpc_frontend::FromProto(request, &converted).ok()) return 0;
  for (const mlcore::serve::InferTensor& t : converted.inputs) {
    if (!t.Validate().ok()) __builtin_trap();  // FromProto passes only valid tensors on
  }
  return 0;
}
#else
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
#endif

// A KServe V1 predict body ({"instances": ...} or {"inputs": ...}) against a model with one
// FP32 input, then against one with two inputs (INT64 tokens, BYTES text): rows, nested rows,
// objects by input name. An accepted request's tensors must hold what their shapes say.
#include <string>

#include "../src/serve/http_codec.h"

namespace {

mlcore::serve::ModelMetadata Model(bool two_inputs) {
  using mlcore::serve::DataType;
  mlcore::serve::ModelMetadata meta;
  meta.name = "m";
  if (two_inputs) {
    meta.inputs = {{"tokens", DataType::kInt64, {-1, 3}}, {"text", DataType::kBytes, {-1}}};
  } else {
    meta.inputs = {{"input", DataType::kFP32, {-1, 4}}};
  }
  return meta;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  for (bool two : {false, true}) {
    auto request = mlcore::serve::internal::ParseV1PredictRequest(body, Model(two));
    if (!request.ok()) continue;
    mlcore::serve::InferResponse response;
    for (const mlcore::serve::InferTensor& t : request->inputs) {
      if (!t.Validate().ok()) __builtin_trap();
      response.outputs.push_back(t);
    }
    auto encoded = mlcore::serve::internal::EncodeV1PredictResponse(response);
    (void)encoded;
  }
  return 0;
}

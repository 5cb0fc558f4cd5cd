// A V2 infer body as a client sends it: JSON (flat or nested data, every datatype) and Triton's
// binary tensor extension. The first line is the Inference-Header-Content-Length ("-" for none),
// the rest is the body. Every input must give a request whose tensors hold exactly what their
// shapes say, or an error; an accepted request is echoed back through the response encoder, in
// JSON and in binary.
#include <string>

#include "../src/serve/http_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  size_t newline = text.find('\n');
  if (newline == std::string::npos) return 0;
  int64_t header_length = -1;
  std::string first = text.substr(0, newline);
  if (first != "-") {
    header_length = 0;
    for (char c : first) {
      if (c < '0' || c > '9' || header_length > (1 << 30)) return 0;
      header_length = header_length * 10 + (c - '0');
    }
  }
  std::string body = text.substr(newline + 1);
  auto request = mlcore::serve::internal::ParseV2InferRequest(body, header_length);
  if (!request.ok()) return 0;
  mlcore::serve::InferResponse response;
  response.model_name = "m";
  response.id = request->id;
  bool binary = false;
  for (mlcore::serve::InferTensor& t : request->inputs) {
    if (!t.Validate().ok()) __builtin_trap();  // the parser let through a tensor that lies
    t.binary = binary;
    binary = !binary;
    response.outputs.push_back(t);
  }
  int64_t json_length = 0;
  auto encoded = mlcore::serve::internal::EncodeV2InferResponse(response, &json_length);
  (void)encoded;
  return 0;
}

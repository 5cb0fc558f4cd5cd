// The bodies of the HTTP protocols, as pure functions of bytes (so fuzz targets reach them):
// Open Inference Protocol V2 infer requests and responses in JSON, with Triton's binary tensor
// extension, and KServe V1 predict requests and responses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlcore/serve/model_manager.h"
#include "mlcore/serve/tensor.h"

namespace mlcore::serve::internal {

// A V2 infer body. `header_length` is the Inference-Header-Content-Length header (-1 when
// absent): the JSON is then that many bytes, and the binary tensors (inputs with a
// "binary_data_size" parameter, in order) follow it. JSON "data" may be flat or nested.
// InvalidArgument naming what is wrong; model name and version are the caller's to set.
StatusOr<InferRequest> ParseV2InferRequest(std::string_view body, int64_t header_length);

// A V2 infer response body; outputs marked binary go after the JSON, whose length is stored
// in `*header_length` (-1 when every output is JSON). InvalidArgument when a BYTES output is not
// valid UTF-8 and was not asked for in binary.
StatusOr<std::string> EncodeV2InferResponse(const InferResponse& response, int64_t* header_length);

// A V1 predict body: {"instances": [...]} (rows of the single input, or rows of {name: value})
// or {"inputs": [...] | {name: [...]}}; datatypes and per-row shapes come from `metadata`.
StatusOr<InferRequest> ParseV1PredictRequest(std::string_view body, const ModelMetadata& metadata);
// {"predictions": [...]}: one entry per row of the single output, or per row a {name: value}.
StatusOr<std::string> EncodeV1PredictResponse(const InferResponse& response);

// JSON bodies of the metadata endpoints.
std::string EncodeV2Metadata(const ModelMetadata& metadata);
std::string EncodeStatistics(const std::vector<ModelStatistics>& stats);
std::string EncodeRepositoryIndex(const std::vector<RepositoryEntry>& entries);
// {"error": message}
std::string EncodeError(std::string_view message);

}  // namespace mlcore::serve::internal

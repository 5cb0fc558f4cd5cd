// The tensors of the serving protocols: named, typed, shaped byte buffers in the Open Inference
// Protocol's (KServe V2) vocabulary. mlcore's core Tensor has no int8/16 or unsigned 16-64
// types and no strings, and a server mostly moves bytes between a socket and a model, so serving
// keeps its own small value type and converts at the backend's edge (ToCoreTensor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"

namespace mlcore::serve {

// Every datatype of the V2 protocol, by its protocol name (DataTypeName).
enum class DataType : uint8_t {
  kBool,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFP16,
  kBF16,
  kFP32,
  kFP64,
  kBytes,
};

// "BOOL", "UINT8", ..., "FP16", "BF16", "FP32", "FP64", "BYTES".
const char* DataTypeName(DataType type);
// The protocol names above (exact, upper case); InvalidArgument naming an unknown one.
StatusOr<DataType> ParseDataType(std::string_view name);
// Bytes per element; 0 for BYTES, whose elements have their own lengths.
size_t DataTypeSize(DataType type);
// The V2 datatype of a core dtype and back; InvalidArgument when the core has no such type.
DataType FromCoreDType(DType dtype);
StatusOr<DType> ToCoreDType(DataType type);

// Shapes: -1 is "any size" in a signature (the batch axis, a variable axis), never in a tensor.
using Dims = std::vector<int64_t>;

// One named tensor of a request or a response. `data` holds the elements row-major in little
// endian: for BYTES each element is a 4-byte little-endian length followed by that many bytes
// (Triton's binary layout, so binary requests and responses move without re-encoding). BOOL is
// one byte per element (0 or 1).
struct InferTensor {
  std::string name;
  DataType datatype = DataType::kFP32;
  Dims shape;
  std::string data;
  // Response only: the client asked for this output in binary form (binary_data_output).
  bool binary = false;

  // Elements implied by the shape; InvalidArgument on a negative dimension or overflow.
  StatusOr<int64_t> NumElements() const;
  // OK when `data` holds exactly the elements the shape implies (for BYTES: that many
  // length-prefixed elements and nothing after them); InvalidArgument saying what is wrong.
  Status Validate() const;
  // The BYTES elements; InvalidArgument when the framing is broken.
  StatusOr<std::vector<std::string_view>> BytesElements() const;
  // Appends one BYTES element in the framed layout.
  void AppendBytesElement(std::string_view element);

  // Copies a core tensor (any device; brought to the host) into a serving tensor.
  static StatusOr<InferTensor> FromCoreTensor(std::string name, const Tensor& tensor);
  // A CPU core tensor holding these elements; InvalidArgument for datatypes the core lacks.
  StatusOr<Tensor> ToCoreTensor() const;
};

// What a client asks for one output (absent list: all outputs, JSON unless told otherwise).
struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferRequest {
  std::string model_name;
  // Empty: the version the model's version policy serves last (the highest ready one).
  std::string model_version;
  std::string id;
  std::vector<InferTensor> inputs;
  std::vector<RequestedOutput> outputs;
  // Every output in binary form (the request's "binary_data_output" parameter).
  bool binary_data_output = false;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<InferTensor> outputs;
};

}  // namespace mlcore::serve

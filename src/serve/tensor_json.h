// Tensor elements to and from JSON: leaves of (possibly nested) JSON arrays appended to a
// serving tensor's bytes with range checks per datatype, and a tensor's elements written as a
// flat or row-nested JSON array.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "mlcore/serve/tensor.h"

namespace mlcore::serve::internal {

// Appends every leaf of `value` (a scalar or nested arrays of them) to `tensor->data` as
// `tensor->datatype`; counts them in `*count`. InvalidArgument for a leaf of the wrong kind (a
// string for FP32, 1.5 for INT32, 300 for UINT8) or nesting deeper than 64.
Status AppendJsonElements(const nlohmann::json& value, InferTensor* tensor, int64_t* count);

// The shape of nested arrays (dims of the first element at each depth); InvalidArgument when
// the arrays are ragged.
StatusOr<Dims> NestedShape(const nlohmann::json& value);

// Writes the elements of `tensor` as a JSON array: flat when `nested_rows` is false, else one
// array per index of the leading axes (row-major nesting of the whole shape).
// InvalidArgument when a BYTES element is not valid UTF-8.
Status WriteJsonElements(const InferTensor& tensor, bool nested, std::string* out);

// `text` as a JSON string literal (quotes included); InvalidArgument for invalid UTF-8.
Status WriteJsonString(std::string_view text, std::string* out);

}  // namespace mlcore::serve::internal

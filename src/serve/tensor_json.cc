// JSON elements of serving tensors.
#include "serve/tensor_json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "mlcore/core/half.h"

namespace mlcore::serve::internal {
namespace {

using nlohmann::json;

template <typename T>
void Put(InferTensor* t, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  t->data.append(bytes, sizeof(T));
}

template <typename T>
T Get(const std::string& data, size_t i) {
  T v;
  std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
  return v;
}

Status Wrong(const InferTensor& t, const json& leaf) {
  std::string shown = leaf.dump(-1, ' ', false, json::error_handler_t::replace);
  if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", t.name, "': ", shown, " is not a ", DataTypeName(t.datatype)));
}

template <typename T>
Status PutInteger(InferTensor* t, const json& leaf) {
  if (leaf.is_number_unsigned()) {
    uint64_t v = leaf.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return Wrong(*t, leaf);
    Put<T>(t, static_cast<T>(v));
    return absl::OkStatus();
  }
  if (leaf.is_number_integer()) {
    int64_t v = leaf.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (v < 0 || static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) return Wrong(*t, leaf);
    } else {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
        return Wrong(*t, leaf);
      }
    }
    Put<T>(t, static_cast<T>(v));
    return absl::OkStatus();
  }
  return Wrong(*t, leaf);
}

Status PutLeaf(InferTensor* t, const json& leaf) {
  switch (t->datatype) {
    case DataType::kBool:
      if (leaf.is_boolean()) {
        Put<uint8_t>(t, leaf.get<bool>() ? 1 : 0);
        return absl::OkStatus();
      }
      return Wrong(*t, leaf);
    case DataType::kUInt8:
      return PutInteger<uint8_t>(t, leaf);
    case DataType::kUInt16:
      return PutInteger<uint16_t>(t, leaf);
    case DataType::kUInt32:
      return PutInteger<uint32_t>(t, leaf);
    case DataType::kUInt64:
      return PutInteger<uint64_t>(t, leaf);
    case DataType::kInt8:
      return PutInteger<int8_t>(t, leaf);
    case DataType::kInt16:
      return PutInteger<int16_t>(t, leaf);
    case DataType::kInt32:
      return PutInteger<int32_t>(t, leaf);
    case DataType::kInt64:
      return PutInteger<int64_t>(t, leaf);
    case DataType::kBytes:
      if (!leaf.is_string()) return Wrong(*t, leaf);
      t->AppendBytesElement(leaf.get_ref<const std::string&>());
      return absl::OkStatus();
    default:
      break;
  }
  if (!leaf.is_number()) return Wrong(*t, leaf);
  double v = leaf.get<double>();
  switch (t->datatype) {
    case DataType::kFP16:
      Put(t, FloatToFloat16(static_cast<float>(v)));
      break;
    case DataType::kBF16:
      Put(t, FloatToBFloat16(static_cast<float>(v)));
      break;
    case DataType::kFP32:
      Put(t, static_cast<float>(v));
      break;
    default:
      Put(t, v);
  }
  return absl::OkStatus();
}

Status Append(const json& value, InferTensor* t, int64_t* count, int depth) {
  if (depth > 64) return absl::InvalidArgumentError("tensor data nests too deep");
  if (!value.is_array()) {
    ++*count;
    return PutLeaf(t, value);
  }
  for (const json& item : value) MLCORE_RETURN_IF_ERROR(Append(item, t, count, depth + 1));
  return absl::OkStatus();
}

template <typename T>
void WriteInt(T v, std::string* out) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

template <typename T>
void WriteFloat(T v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");  // JSON has no NaN or infinity
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

Status WriteElement(const InferTensor& t, size_t i, const std::vector<std::string_view>& strings,
                    std::string* out) {
  switch (t.datatype) {
    case DataType::kBool:
      out->append(t.data[i] != 0 ? "true" : "false");
      break;
    case DataType::kUInt8:
      WriteInt(Get<uint8_t>(t.data, i), out);
      break;
    case DataType::kUInt16:
      WriteInt(Get<uint16_t>(t.data, i), out);
      break;
    case DataType::kUInt32:
      WriteInt(Get<uint32_t>(t.data, i), out);
      break;
    case DataType::kUInt64:
      WriteInt(Get<uint64_t>(t.data, i), out);
      break;
    case DataType::kInt8:
      WriteInt(Get<int8_t>(t.data, i), out);
      break;
    case DataType::kInt16:
      WriteInt(Get<int16_t>(t.data, i), out);
      break;
    case DataType::kInt32:
      WriteInt(Get<int32_t>(t.data, i), out);
      break;
    case DataType::kInt64:
      WriteInt(Get<int64_t>(t.data, i), out);
      break;
    case DataType::kFP16:
      WriteFloat(Float16ToFloat(Get<float16>(t.data, i)), out);
      break;
    case DataType::kBF16:
      WriteFloat(BFloat16ToFloat(Get<bfloat16>(t.data, i)), out);
      break;
    case DataType::kFP32:
      WriteFloat(Get<float>(t.data, i), out);
      break;
    case DataType::kFP64:
      WriteFloat(Get<double>(t.data, i), out);
      break;
    case DataType::kBytes:
      return WriteJsonString(strings[i], out);
  }
  return absl::OkStatus();
}

}  // namespace

Status AppendJsonElements(const json& value, InferTensor* tensor, int64_t* count) {
  return Append(value, tensor, count, 0);
}

StatusOr<Dims> NestedShape(const json& value) {
  Dims dims;
  const json* level = &value;
  while (level->is_array()) {
    if (dims.size() > 64) return absl::InvalidArgumentError("tensor data nests too deep");
    dims.push_back(static_cast<int64_t>(level->size()));
    if (level->empty()) break;
    level = &(*level)[0];
  }
  // Every array at depth d must have dims[d] entries.
  std::vector<std::pair<const json*, size_t>> stack = {{&value, 0}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (depth == dims.size()) {
      if (node->is_array()) return absl::InvalidArgumentError("ragged nested tensor data");
      continue;
    }
    if (!node->is_array() || static_cast<int64_t>(node->size()) != dims[depth]) {
      return absl::InvalidArgumentError("ragged nested tensor data");
    }
    for (const json& child : *node) stack.emplace_back(&child, depth + 1);
  }
  return dims;
}

Status WriteJsonString(std::string_view text, std::string* out) {
  try {
    out->append(json(std::string(text)).dump());
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(
        "a BYTES element is not valid UTF-8; ask for the output in binary");
  }
  return absl::OkStatus();
}

Status WriteJsonElements(const InferTensor& tensor, bool nested, std::string* out) {
  std::vector<std::string_view> strings;
  if (tensor.datatype == DataType::kBytes) {
    MLCORE_ASSIGN_OR_RETURN(strings, tensor.BytesElements());
  }
  MLCORE_ASSIGN_OR_RETURN(int64_t n, tensor.NumElements());
  // Strides of the nesting: a '[' opens each time the flat index crosses a multiple of one.
  std::vector<int64_t> strides;
  if (nested) {
    int64_t s = 1;
    for (auto it = tensor.shape.rbegin(); it != tensor.shape.rend(); ++it) {
      s *= std::max<int64_t>(*it, 1);
      strides.insert(strides.begin(), s);
    }
  }
  if (!nested || strides.empty()) out->push_back('[');
  if (nested && n == 0) {
    for (size_t d = 0; d < strides.size(); ++d) out->push_back('[');
    for (size_t d = 0; d < strides.size(); ++d) out->push_back(']');
  }
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0) out->push_back(',');
    for (int64_t s : strides) {
      if (i % s == 0) out->push_back('[');
    }
    MLCORE_RETURN_IF_ERROR(WriteElement(tensor, static_cast<size_t>(i), strings, out));
    for (auto it = strides.rbegin(); it != strides.rend(); ++it) {
      if ((i + 1) % *it == 0) out->push_back(']');
    }
  }
  if (!nested || strides.empty()) out->push_back(']');
  return absl::OkStatus();
}

}  // namespace mlcore::serve::internal

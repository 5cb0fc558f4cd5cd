// V2 datatypes and the serving tensor's checks and conversions.
#include "mlcore/serve/tensor.h"

#include <array>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace mlcore::serve {
namespace {

struct TypeRow {
  DataType type;
  const char* name;
  size_t size;
};
constexpr std::array<TypeRow, 14> kTypes = {{
    {DataType::kBool, "BOOL", 1},
    {DataType::kUInt8, "UINT8", 1},
    {DataType::kUInt16, "UINT16", 2},
    {DataType::kUInt32, "UINT32", 4},
    {DataType::kUInt64, "UINT64", 8},
    {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},
    {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},
    {DataType::kFP16, "FP16", 2},
    {DataType::kBF16, "BF16", 2},
    {DataType::kFP32, "FP32", 4},
    {DataType::kFP64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
}};

uint32_t ReadLength(const char* p) {
  uint32_t n;
  std::memcpy(&n, p, 4);  // little endian on every target mlcore builds for
  return n;
}

}  // namespace

const char* DataTypeName(DataType type) { return kTypes[static_cast<size_t>(type)].name; }

StatusOr<DataType> ParseDataType(std::string_view name) {
  for (const TypeRow& row : kTypes) {
    if (name == row.name) return row.type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown datatype '", std::string(name), "'"));
}

size_t DataTypeSize(DataType type) { return kTypes[static_cast<size_t>(type)].size; }

DataType FromCoreDType(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return DataType::kBool;
    case DType::kUInt8:
      return DataType::kUInt8;
    case DType::kInt32:
      return DataType::kInt32;
    case DType::kInt64:
      return DataType::kInt64;
    case DType::kFloat16:
      return DataType::kFP16;
    case DType::kBFloat16:
      return DataType::kBF16;
    case DType::kFloat32:
      return DataType::kFP32;
    case DType::kFloat64:
      break;
  }
  return DataType::kFP64;
}

StatusOr<DType> ToCoreDType(DataType type) {
  switch (type) {
    case DataType::kBool:
      return DType::kBool;
    case DataType::kUInt8:
      return DType::kUInt8;
    case DataType::kInt32:
      return DType::kInt32;
    case DataType::kInt64:
      return DType::kInt64;
    case DataType::kFP16:
      return DType::kFloat16;
    case DataType::kBF16:
      return DType::kBFloat16;
    case DataType::kFP32:
      return DType::kFloat32;
    case DataType::kFP64:
      return DType::kFloat64;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("datatype ", DataTypeName(type), " has no mlcore tensor type"));
  }
}

StatusOr<int64_t> InferTensor::NumElements() const {
  auto n = mlcore::NumElements(shape);
  if (!n.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", name, "': bad shape ", ShapeToString(shape)));
  }
  return n;
}

StatusOr<std::vector<std::string_view>> InferTensor::BytesElements() const {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': BYTES element length cut short"));
    }
    uint32_t n = ReadLength(data.data() + pos);
    pos += 4;
    if (data.size() - pos < n) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': BYTES element longer than the data"));
    }
    out.emplace_back(data.data() + pos, n);
    pos += n;
  }
  return out;
}

void InferTensor::AppendBytesElement(std::string_view element) {
  uint32_t n = static_cast<uint32_t>(element.size());
  char len[4];
  std::memcpy(len, &n, 4);
  data.append(len, 4);
  data.append(element.data(), element.size());
}

Status InferTensor::Validate() const {
  StatusOr<int64_t> n = NumElements();
  if (!n.ok()) return n.status();
  if (datatype == DataType::kBytes) {
    auto elements = BytesElements();
    if (!elements.ok()) return elements.status();
    if (static_cast<int64_t>(elements->size()) != *n) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ", elements->size(),
                                                     " BYTES elements, its shape ",
                                                     ShapeToString(shape), " needs ", *n));
    }
    return absl::OkStatus();
  }
  size_t size = DataTypeSize(datatype);
  if (*n > 0 && static_cast<uint64_t>(*n) > std::numeric_limits<uint64_t>::max() / size) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is too large"));
  }
  if (data.size() != static_cast<uint64_t>(*n) * size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' has ", data.size(), " bytes of data, its shape ", ShapeToString(shape),
        " of ", DataTypeName(datatype), " needs ", static_cast<uint64_t>(*n) * size));
  }
  if (datatype == DataType::kBool) {
    for (char c : data) {
      if (c != 0 && c != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", name, "': BOOL elements must be 0 or 1"));
      }
    }
  }
  return absl::OkStatus();
}

StatusOr<InferTensor> InferTensor::FromCoreTensor(std::string name, const Tensor& tensor) {
  InferTensor out;
  out.name = std::move(name);
  out.datatype = FromCoreDType(tensor.dtype());
  out.shape = tensor.shape();
  Tensor host = tensor;
  if (tensor.device() != Device::CPU()) {
    auto moved = tensor.To(Device::CPU());
    if (!moved.ok()) return moved.status();
    host = *std::move(moved);
  }
  out.data.assign(static_cast<const char*>(host.data()), host.nbytes());
  return out;
}

StatusOr<Tensor> InferTensor::ToCoreTensor() const {
  auto dtype = ToCoreDType(datatype);
  if (!dtype.ok()) return dtype.status();
  auto tensor = Tensor::Empty(shape, *dtype);
  if (!tensor.ok()) return tensor.status();
  if (tensor->nbytes() != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' data does not fit its shape"));
  }
  if (!data.empty()) std::memcpy(tensor->data(), data.data(), data.size());
  return tensor;
}

}  // namespace mlcore::serve

#include "serve/grpc/convert.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace mlcore::serve::grpc_frontend {
namespace {

using Contents = inference::InferTensorContents;

// Little-endian hosts only (x86-64, aarch64): the protocol's bytes are the memory layout.
template <typename T>
void Append(std::string& data, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  data.append(bytes, sizeof(T));
}

// Typed elements stored as T, each checked to fit T (8- and 16-bit types travel widened).
template <typename T, typename Repeated>
Status AppendChecked(const Repeated& values, const std::string& input, const char* type,
                     std::string& data) {
  data.reserve(data.size() + static_cast<size_t>(values.size()) * sizeof(T));
  for (auto v : values) {
    if (!std::in_range<T>(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input, "': value ", v, " does not fit its datatype ", type));
    }
    Append<T>(data, static_cast<T>(v));
  }
  return absl::OkStatus();
}

// How many typed fields of `c` hold values: an input's values must all be in the one field its
// datatype names.
int PopulatedFields(const Contents& c) {
  return (c.bool_contents_size() > 0) + (c.int_contents_size() > 0) +
         (c.int64_contents_size() > 0) + (c.uint_contents_size() > 0) +
         (c.uint64_contents_size() > 0) + (c.fp32_contents_size() > 0) +
         (c.fp64_contents_size() > 0) + (c.bytes_contents_size() > 0);
}

Status FromContents(const Contents& c, const std::string& name, DataType type, std::string& data) {
  const int fields = PopulatedFields(c);
  auto wrong = [&](const char* field) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "' of datatype ",
                                                   DataTypeName(type), " takes its values in ",
                                                   field, " (or raw_input_contents)"));
  };
  switch (type) {
    case DataType::kBool:
      if (fields > (c.bool_contents_size() > 0)) return wrong("bool_contents");
      for (bool b : c.bool_contents()) data.push_back(b ? 1 : 0);
      return absl::OkStatus();
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32:
      if (fields > (c.uint_contents_size() > 0)) return wrong("uint_contents");
      if (type == DataType::kUInt8)
        return AppendChecked<uint8_t>(c.uint_contents(), name, "UINT8", data);
      if (type == DataType::kUInt16) {
        return AppendChecked<uint16_t>(c.uint_contents(), name, "UINT16", data);
      }
      return AppendChecked<uint32_t>(c.uint_contents(), name, "UINT32", data);
    case DataType::kUInt64:
      if (fields > (c.uint64_contents_size() > 0)) return wrong("uint64_contents");
      return AppendChecked<uint64_t>(c.uint64_contents(), name, "UINT64", data);
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      if (fields > (c.int_contents_size() > 0)) return wrong("int_contents");
      if (type == DataType::kInt8)
        return AppendChecked<int8_t>(c.int_contents(), name, "INT8", data);
      if (type == DataType::kInt16) {
        return AppendChecked<int16_t>(c.int_contents(), name, "INT16", data);
      }
      return AppendChecked<int32_t>(c.int_contents(), name, "INT32", data);
    case DataType::kInt64:
      if (fields > (c.int64_contents_size() > 0)) return wrong("int64_contents");
      return AppendChecked<int64_t>(c.int64_contents(), name, "INT64", data);
    case DataType::kFP32:
      if (fields > (c.fp32_contents_size() > 0)) return wrong("fp32_contents");
      for (float f : c.fp32_contents()) Append<float>(data, f);
      return absl::OkStatus();
    case DataType::kFP64:
      if (fields > (c.fp64_contents_size() > 0)) return wrong("fp64_contents");
      for (double f : c.fp64_contents()) Append<double>(data, f);
      return absl::OkStatus();
    case DataType::kBytes: {
      if (fields > (c.bytes_contents_size() > 0)) return wrong("bytes_contents");
      InferTensor framed;
      for (const std::string& b : c.bytes_contents()) framed.AppendBytesElement(b);
      data = std::move(framed.data);
      return absl::OkStatus();
    }
    case DataType::kFP16:
    case DataType::kBF16:
      if (fields > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", name, "' of datatype ", DataTypeName(type),
                         " has no typed contents in the protocol: send it in raw_input_contents"));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("input '", name, "': unsupported datatype"));
}

}  // namespace

Status FromProto(const inference::ModelInferRequest& in, InferRequest* out) {
  out->model_name = in.model_name();
  out->model_version = in.model_version();
  out->id = in.id();
  const bool raw = in.raw_input_contents_size() > 0;
  if (raw && in.raw_input_contents_size() != in.inputs_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw_input_contents has ", in.raw_input_contents_size(), " entries for ",
                     in.inputs_size(), " inputs: give one per input, in order"));
  }
  out->inputs.clear();
  out->inputs.reserve(in.inputs_size());
  for (int i = 0; i < in.inputs_size(); ++i) {
    const auto* input = &in.inputs(i);
    InferTensor t;
    t.name = input->name();
    StatusOr<DataType> type = ParseDataType(input->datatype());
    if (!type.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name, "': ", type.status().message()));
    }
    t.datatype = *type;
    t.shape.assign(input->shape().begin(), input->shape().end());
    if (raw) {
      if (input->has_contents() && PopulatedFields(input->contents()) > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", t.name, "' has contents although the request uses raw_input_contents"));
      }
      t.data = in.raw_input_contents(i);
    } else {
      MLCORE_RETURN_IF_ERROR(FromContents(input->contents(), t.name, t.datatype, t.data));
    }
    if (Status st = t.Validate(); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': ", st.message()));
    }
    out->inputs.push_back(std::move(t));
  }
  out->outputs.clear();
  for (const auto& requested : in.outputs()) out->outputs.push_back({requested.name(), true});
  out->binary_data_output = true;
  return absl::OkStatus();
}

void ToProto(InferResponse& in, inference::ModelInferResponse* out) {
  out->set_model_name(in.model_name);
  out->set_model_version(in.model_version);
  out->set_id(in.id);
  for (InferTensor& t : in.outputs) {
    auto* o = out->add_outputs();
    o->set_name(t.name);
    o->set_datatype(DataTypeName(t.datatype));
    for (int64_t d : t.shape) o->add_shape(d);
    *out->add_raw_output_contents() = std::move(t.data);
  }
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace mlcore::serve::grpc_frontend

// KServe V1 predict bodies: rows in, rows out, datatypes from the model's signature.
#include "absl/strings/str_cat.h"
#include "serve/http_codec.h"
#include "serve/tensor_json.h"

namespace mlcore::serve::internal {
namespace {

using nlohmann::json;

Status Bad(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

// A tensor named after `info` from nested JSON rows (the first axis is the row axis).
StatusOr<InferTensor> FromRows(const TensorInfo& info, const json& rows) {
  if (!rows.is_array()) return Bad(absl::StrCat("input '", info.name, "' must be a list of rows"));
  InferTensor t;
  t.name = info.name;
  t.datatype = info.datatype;
  MLCORE_ASSIGN_OR_RETURN(t.shape, NestedShape(rows));
  int64_t count = 0;
  MLCORE_RETURN_IF_ERROR(AppendJsonElements(rows, &t, &count));
  MLCORE_RETURN_IF_ERROR(t.Validate());
  return t;
}

const TensorInfo* FindInfo(const ModelMetadata& metadata, const std::string& name) {
  for (const TensorInfo& info : metadata.inputs) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

// {"a": [...], "b": [...]} columns, or [{"a": .., "b": ..}, ...] rows turned into columns.
StatusOr<std::vector<InferTensor>> FromNamed(const ModelMetadata& metadata, const json& value) {
  json columns = json::object();
  if (value.is_object()) {
    columns = value;
  } else {
    for (const json& row : value) {
      if (!row.is_object()) return Bad("instances mix objects and values");
      for (const auto& item : row.items()) columns[item.key()].push_back(item.value());
    }
  }
  std::vector<InferTensor> out;
  for (const auto& item : columns.items()) {
    const TensorInfo* info = FindInfo(metadata, item.key());
    if (info == nullptr) {
      return Bad(absl::StrCat("model '", metadata.name, "' has no input '", item.key(), "'"));
    }
    MLCORE_ASSIGN_OR_RETURN(InferTensor t, FromRows(*info, item.value()));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

StatusOr<InferRequest> ParseV1PredictRequest(std::string_view body, const ModelMetadata& metadata) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("the request body is not valid JSON");
  if (!doc.is_object()) return Bad("the request body must be a JSON object");
  auto it = doc.find("instances");
  if (it == doc.end()) it = doc.find("inputs");
  if (it == doc.end()) return Bad("a V1 request needs 'instances' or 'inputs'");
  const json& value = *it;
  InferRequest request;
  if (value.is_object() || (value.is_array() && !value.empty() && value[0].is_object())) {
    MLCORE_ASSIGN_OR_RETURN(request.inputs, FromNamed(metadata, value));
    return request;
  }
  if (!value.is_array() || value.empty()) return Bad("'instances' must be a non-empty list");
  if (metadata.inputs.size() != 1) {
    return Bad(absl::StrCat("model '", metadata.name, "' takes ", metadata.inputs.size(),
                            " inputs: send instances as objects by input name"));
  }
  MLCORE_ASSIGN_OR_RETURN(InferTensor t, FromRows(metadata.inputs[0], value));
  request.inputs.push_back(std::move(t));
  return request;
}

StatusOr<std::string> EncodeV1PredictResponse(const InferResponse& response) {
  std::string out = "{\"predictions\":";
  if (response.outputs.size() == 1) {
    MLCORE_RETURN_IF_ERROR(WriteJsonElements(response.outputs[0], /*nested=*/true, &out));
    out += "}";
    return out;
  }
  // Several outputs: one object per row, {output name: that row's value}.
  int64_t rows = response.outputs.empty() || response.outputs[0].shape.empty()
                     ? 0
                     : response.outputs[0].shape[0];
  std::vector<json> parsed;
  for (const InferTensor& t : response.outputs) {
    std::string text;
    MLCORE_RETURN_IF_ERROR(WriteJsonElements(t, /*nested=*/true, &text));
    parsed.push_back(json::parse(text));
  }
  json list = json::array();
  for (int64_t r = 0; r < rows; ++r) {
    json row = json::object();
    for (size_t k = 0; k < parsed.size(); ++k) {
      if (parsed[k].is_array() && r < static_cast<int64_t>(parsed[k].size())) {
        row[response.outputs[k].name] = parsed[k][r];
      }
    }
    list.push_back(row);
  }
  out += list.dump() + "}";
  return out;
}

}  // namespace mlcore::serve::internal

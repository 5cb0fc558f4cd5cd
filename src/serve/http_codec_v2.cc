// V2 (Open Inference Protocol) JSON bodies and Triton's binary tensor extension.
#include "absl/strings/str_cat.h"
#include "serve/http_codec.h"
#include "serve/tensor_json.h"

namespace mlcore::serve::internal {
namespace {

using nlohmann::json;

Status Bad(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

StatusOr<Dims> ParseShape(const json& value, const std::string& name) {
  if (!value.is_array()) return Bad(absl::StrCat("input '", name, "' needs a shape list"));
  Dims dims;
  for (const json& d : value) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return Bad(absl::StrCat("input '", name, "': shape entries are integers >= 0"));
    }
    dims.push_back(d.get<int64_t>());
  }
  return dims;
}

// The "parameters" object's `key` as an integer or bool; absent: nullptr.
const json* Param(const json& holder, const char* key) {
  auto params = holder.find("parameters");
  if (params == holder.end() || !params->is_object()) return nullptr;
  auto it = params->find(key);
  return it == params->end() ? nullptr : &*it;
}

StatusOr<InferTensor> ParseInput(const json& input, std::string_view* binary) {
  if (!input.is_object()) return Bad("each input is an object");
  auto name = input.find("name");
  auto datatype = input.find("datatype");
  auto shape = input.find("shape");
  if (name == input.end() || !name->is_string() || datatype == input.end() ||
      !datatype->is_string() || shape == input.end()) {
    return Bad("each input needs 'name', 'shape' and 'datatype'");
  }
  InferTensor t;
  t.name = name->get<std::string>();
  MLCORE_ASSIGN_OR_RETURN(t.datatype, ParseDataType(datatype->get_ref<const std::string&>()));
  MLCORE_ASSIGN_OR_RETURN(t.shape, ParseShape(*shape, t.name));
  MLCORE_ASSIGN_OR_RETURN(int64_t numel, t.NumElements());
  if (const json* size = Param(input, "binary_data_size")) {
    if (!size->is_number_unsigned()) {
      return Bad(absl::StrCat("input '", t.name, "': binary_data_size must be an integer"));
    }
    uint64_t n = size->get<uint64_t>();
    if (n > binary->size()) {
      return Bad(absl::StrCat("input '", t.name, "': binary_data_size ", n, " is past the body"));
    }
    t.data.assign(binary->data(), n);
    binary->remove_prefix(n);
  } else {
    auto data = input.find("data");
    if (data == input.end()) return Bad(absl::StrCat("input '", t.name, "' has no data"));
    if (t.datatype != DataType::kBytes) {
      // Reserve only what the shape promises, at most what the JSON could hold.
      t.data.reserve(std::min<uint64_t>(numel * DataTypeSize(t.datatype), 1 << 20));
    }
    int64_t count = 0;
    MLCORE_RETURN_IF_ERROR(AppendJsonElements(*data, &t, &count));
    if (count != numel) {
      return Bad(absl::StrCat("input '", t.name, "' has ", count, " elements, its shape ",
                              ShapeToString(t.shape), " needs ", numel));
    }
  }
  MLCORE_RETURN_IF_ERROR(t.Validate());
  return t;
}

}  // namespace

StatusOr<InferRequest> ParseV2InferRequest(std::string_view body, int64_t header_length) {
  std::string_view text = body;
  std::string_view binary;
  if (header_length >= 0) {
    if (static_cast<uint64_t>(header_length) > body.size()) {
      return Bad("Inference-Header-Content-Length is past the body");
    }
    text = body.substr(0, header_length);
    binary = body.substr(header_length);
  }
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("the request body is not valid JSON");
  if (!doc.is_object()) return Bad("the request body must be a JSON object");
  InferRequest request;
  if (auto id = doc.find("id"); id != doc.end()) {
    if (!id->is_string()) return Bad("'id' must be a string");
    request.id = id->get<std::string>();
  }
  if (const json* all = Param(doc, "binary_data_output")) {
    request.binary_data_output = all->is_boolean() && all->get<bool>();
  }
  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array() || inputs->empty()) {
    return Bad("the request needs a non-empty 'inputs' list");
  }
  for (const json& input : *inputs) {
    MLCORE_ASSIGN_OR_RETURN(InferTensor t, ParseInput(input, &binary));
    for (const InferTensor& other : request.inputs) {
      if (other.name == t.name) return Bad(absl::StrCat("input '", t.name, "' appears twice"));
    }
    request.inputs.push_back(std::move(t));
  }
  if (!binary.empty()) return Bad("binary data is left over after the last binary input");
  if (auto outputs = doc.find("outputs"); outputs != doc.end()) {
    if (!outputs->is_array()) return Bad("'outputs' must be a list");
    for (const json& output : *outputs) {
      auto name = output.is_object() ? output.find("name") : output.end();
      if (!output.is_object() || name == output.end() || !name->is_string()) {
        return Bad("each requested output needs a 'name'");
      }
      RequestedOutput out{name->get<std::string>(), false};
      if (const json* b = Param(output, "binary_data"))
        out.binary = b->is_boolean() && b->get<bool>();
      request.outputs.push_back(std::move(out));
    }
  }
  return request;
}

StatusOr<std::string> EncodeV2InferResponse(const InferResponse& response, int64_t* header_length) {
  std::string out = "{\"model_name\":";
  MLCORE_RETURN_IF_ERROR(WriteJsonString(response.model_name, &out));
  out += ",\"model_version\":";
  MLCORE_RETURN_IF_ERROR(WriteJsonString(response.model_version, &out));
  if (!response.id.empty()) {
    out += ",\"id\":";
    MLCORE_RETURN_IF_ERROR(WriteJsonString(response.id, &out));
  }
  out += ",\"outputs\":[";
  bool any_binary = false;
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const InferTensor& t = response.outputs[i];
    if (i > 0) out.push_back(',');
    out += "{\"name\":";
    MLCORE_RETURN_IF_ERROR(WriteJsonString(t.name, &out));
    absl::StrAppend(&out, ",\"datatype\":\"", DataTypeName(t.datatype), "\",\"shape\":[");
    for (size_t d = 0; d < t.shape.size(); ++d) absl::StrAppend(&out, d ? "," : "", t.shape[d]);
    out += "]";
    if (t.binary) {
      any_binary = true;
      absl::StrAppend(&out, ",\"parameters\":{\"binary_data_size\":", t.data.size(), "}}");
    } else {
      out += ",\"data\":";
      MLCORE_RETURN_IF_ERROR(WriteJsonElements(t, /*nested=*/false, &out));
      out += "}";
    }
  }
  out += "]}";
  *header_length = -1;
  if (any_binary) {
    *header_length = static_cast<int64_t>(out.size());
    for (const InferTensor& t : response.outputs) {
      if (t.binary) out += t.data;
    }
  }
  return out;
}

std::string EncodeError(std::string_view message) {
  std::string out = "{\"error\":";
  if (!WriteJsonString(message, &out).ok()) out += "\"(message not valid UTF-8)\"";
  out += "}";
  return out;
}

std::string EncodeV2Metadata(const ModelMetadata& metadata) {
  auto tensors = [](const std::vector<TensorInfo>& infos) {
    json list = json::array();
    for (const TensorInfo& info : infos) {
      list.push_back(
          {{"name", info.name}, {"datatype", DataTypeName(info.datatype)}, {"shape", info.shape}});
    }
    return list;
  };
  json doc = {{"name", metadata.name},
              {"versions", metadata.versions},
              {"platform", metadata.platform},
              {"inputs", tensors(metadata.inputs)},
              {"outputs", tensors(metadata.outputs)}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeStatistics(const std::vector<ModelStatistics>& stats) {
  auto duration = [](const DurationStat& d) { return json{{"count", d.count}, {"ns", d.ns}}; };
  json list = json::array();
  for (const ModelStatistics& s : stats) {
    json batches = json::array();
    for (const BatchStat& b : s.batch_stats) {
      batches.push_back({{"batch_size", b.batch_size},
                         {"compute_input", duration({b.compute.count, 0})},
                         {"compute_infer", duration(b.compute)},
                         {"compute_output", duration({b.compute.count, 0})}});
    }
    list.push_back({{"name", s.name},
                    {"version", s.version},
                    {"last_inference", s.last_inference_ms},
                    {"inference_count", s.inference_count},
                    {"execution_count", s.execution_count},
                    {"inference_stats",
                     {{"success", duration(s.success)},
                      {"fail", duration(s.fail)},
                      {"queue", duration(s.queue)},
                      {"compute_input", duration(s.compute_input)},
                      {"compute_infer", duration(s.compute_infer)},
                      {"compute_output", duration(s.compute_output)}}},
                    {"batch_stats", batches}});
  }
  return json{{"model_stats", list}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeRepositoryIndex(const std::vector<RepositoryEntry>& entries) {
  json list = json::array();
  for (const RepositoryEntry& e : entries) {
    json row = {{"name", e.name}, {"state", ModelStateName(e.state)}};
    if (!e.version.empty()) row["version"] = e.version;
    if (!e.reason.empty()) row["reason"] = e.reason;
    list.push_back(row);
  }
  return list.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace mlcore::serve::internal

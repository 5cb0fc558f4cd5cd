// ModelSignature's JSON form (signature.json in a checkpoint) and ReadSignature.
#include "mlcore/nn/signature.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mlcore/nn/model.h"
#include "nn/model_io.h"

namespace mlcore::nn {
namespace {

using Json = nlohmann::json;
constexpr const char* kFormat = "mlcore.nn.Signature";

Json SpecsToJson(const std::vector<TensorSpec>& specs) {
  Json out = Json::array();
  for (const TensorSpec& s : specs) {
    out.push_back({{"name", s.name}, {"dtype", DTypeName(s.dtype)}, {"shape", s.shape}});
  }
  return out;
}

StatusOr<std::vector<TensorSpec>> SpecsFromJson(const Json& list, const char* what) {
  if (!list.is_array()) {
    return absl::DataLossError(std::string("signature: '") + what + "' is not a list");
  }
  std::vector<TensorSpec> out;
  for (const Json& item : list) {
    if (!item.is_object() || !item.contains("name") || !item.contains("dtype") ||
        !item.contains("shape")) {
      return absl::DataLossError(std::string("signature: an entry of '") + what +
                                 "' lacks name, dtype or shape");
    }
    TensorSpec spec;
    spec.name = item["name"].get<std::string>();
    StatusOr<DType> dtype = ParseDType(item["dtype"].get<std::string>());
    if (!dtype.ok()) {
      return absl::DataLossError("signature: " + spec.name + ": " +
                                 std::string(dtype.status().message()));
    }
    spec.dtype = *dtype;
    MLCORE_ASSIGN_OR_RETURN(
        spec.shape, internal::JsonShape(item["shape"], "signature: " + spec.name + " shape"));
    for (int64_t d : spec.shape) {
      if (d < -1) return absl::DataLossError("signature: " + spec.name + " has a bad shape");
    }
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace

std::string ModelSignature::ToJson() const {
  Json doc = {{"format", kFormat},
              {"version", 1},
              {"inputs", SpecsToJson(inputs)},
              {"outputs", SpecsToJson(outputs)}};
  return doc.dump(2);
}

StatusOr<ModelSignature> ModelSignature::FromJson(const std::string& text) {
  // nlohmann::json throws on malformed text and on values of the wrong JSON type.
  try {
    const Json doc = Json::parse(text);
    if (!doc.is_object() || doc.value("format", "") != kFormat) {
      return absl::DataLossError("signature: not an mlcore.nn.Signature document");
    }
    ModelSignature sig;
    MLCORE_ASSIGN_OR_RETURN(sig.inputs, SpecsFromJson(doc.value("inputs", Json()), "inputs"));
    MLCORE_ASSIGN_OR_RETURN(sig.outputs, SpecsFromJson(doc.value("outputs", Json()), "outputs"));
    return sig;
  } catch (const Json::exception& e) {
    return absl::DataLossError(std::string("signature: malformed JSON: ") + e.what());
  }
}

StatusOr<ModelSignature> ReadSignature(const std::string& dir) {
  std::error_code ec;
  const std::string path = dir + "/signature.json";
  if (std::filesystem::exists(path, ec)) {
    MLCORE_ASSIGN_OR_RETURN(Json doc, internal::ReadJsonFile(path));
    StatusOr<ModelSignature> sig = ModelSignature::FromJson(doc.dump());
    if (!sig.ok()) return absl::DataLossError(path + ": " + std::string(sig.status().message()));
    return sig;
  }
  // Older checkpoints: the model knows its signature once loaded.
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, LoadAnyModel(dir));
  return model->signature();
}

}  // namespace mlcore::nn

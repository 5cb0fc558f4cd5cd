// Save and load of Sequential models. A checkpoint is a directory:
//   architecture.json      layer types, names and configs, input shape
//   signature.json         input and output names, dtypes and shapes (mlcore/nn/signature.h)
//   model.safetensors      the parameters and buffers by name ("dense_0.kernel",
//                          "batch_norm2d_1.running_mean")
//   optimizer.safetensors  optimizer slots by "<parameter>/<slot>" (when compiled)
//   training_state.json    optimizer name/config/steps, LR schedule, loss, metrics, epoch
//                          (when compiled)
// It is written by internal::WriteDirectoryAtomically (nn/model_io.h), shared with graph models:
// a fresh sibling directory swapped in with renameat2(RENAME_EXCHANGE), so a reader never sees
// half of one checkpoint and half of another.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "mlcore/nn/safetensors.h"
#include "mlcore/nn/sequential.h"
#include "nn/model_io.h"

namespace mlcore::nn {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;
constexpr const char* kFormat = "mlcore.nn.Sequential";

Json Architecture(const Sequential& model) {
  Json layers = Json::array();
  for (const auto& layer : model.layers()) {
    layers.push_back(
        {{"type", layer->type()}, {"name", layer->name()}, {"config", layer->config()}});
  }
  return {{"format", kFormat},
          {"version", 1},
          {"input_shape", model.input_shape()},
          {"layers", layers}};
}

std::string DescribeLayers(const Json& layers) {
  std::string out;
  for (const Json& l : layers) {
    if (!out.empty()) out += ", ";
    // A description for an error message about a possibly damaged file: no field is trusted.
    const bool typed = l.is_object() && l.contains("type") && l["type"].is_string();
    out += typed ? l["type"].get<std::string>() : "?";
    if (l.is_object() && l.contains("config") && l["config"].is_object() &&
        l["config"].contains("units")) {
      const Json& units = l["config"]["units"];
      const bool whole = units.is_number() && std::fabs(units.get<double>()) <= 9.0e15 &&
                         units.get<double>() == std::trunc(units.get<double>());
      absl::StrAppend(
          &out, "(",
          whole ? std::to_string(static_cast<int64_t>(units.get<double>())) : units.dump(), ")");
    }
  }
  return "[" + out + "]";
}

// Everything a checkpoint's model.safetensors holds: each layer's parameters, then its buffers
// (non-trainable state such as BatchNorm's running statistics).
std::vector<Parameter*> ModelState(const Sequential& model) {
  std::vector<Parameter*> out;
  for (const auto& layer : model.layers()) {
    for (Parameter* p : layer->parameters()) out.push_back(p);
    for (Parameter* p : layer->buffers()) out.push_back(p);
  }
  return out;
}

StatusOr<Shape> InputShape(const Json& arch, const std::string& dir) {
  if (!arch.is_object() || arch.value("format", "") != kFormat || !arch.contains("layers") ||
      !arch["layers"].is_array() || !arch.contains("input_shape")) {
    return absl::DataLossError(dir + "/architecture.json is not an mlcore Sequential architecture");
  }
  return internal::JsonShape(arch["input_shape"], dir + "/architecture.json: input_shape");
}

}  // namespace

Status Sequential::Save(const std::string& dir) const {
  auto lock = ReadLock();
  if (!built_) return absl::FailedPreconditionError("Save: the model is not built yet");
  return internal::WriteDirectoryAtomically(dir, [&](const std::string& tmp) -> Status {
    std::map<std::string, Tensor> weights;
    for (Parameter* p : ModelState(*this)) weights[p->name] = p->value;
    return internal::WriteCheckpointFiles(*this, tmp, weights, kFormat,
                                          Architecture(*this).dump(2));
  });
}

Status Sequential::LoadWeights(const std::string& dir) {
  auto lock = WriteLock();
  // nlohmann::json throws on values of the wrong JSON type; a damaged file is DataLoss here.
  try {
    return LoadWeightsImpl(dir);
  } catch (const Json::exception& e) {
    return absl::DataLossError("checkpoint " + dir + " is malformed: " + e.what());
  }
}

Status Sequential::LoadWeightsImpl(const std::string& dir) {
  MLCORE_ASSIGN_OR_RETURN(Json arch, internal::ReadJsonFile(dir + "/architecture.json"));
  MLCORE_ASSIGN_OR_RETURN(Shape input_shape, InputShape(arch, dir));
  const Json mine = Architecture(*this)["layers"];
  bool same = mine.size() == arch["layers"].size();
  for (size_t i = 0; same && i < mine.size(); ++i) {
    same = mine[i]["type"] == arch["layers"][i]["type"] &&
           mine[i]["config"] == arch["layers"][i]["config"];
  }
  if (!same || (built_ && input_shape != input_shape_)) {
    return absl::InvalidArgumentError(
        "checkpoint " + dir + " is for another architecture: it has layers " +
        DescribeLayers(arch["layers"]) + " on input " + ShapeToString(input_shape) +
        ", this model has " + DescribeLayers(mine) +
        (built_ ? " on input " + ShapeToString(input_shape_) : std::string()));
  }
  MLCORE_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(dir + "/model.safetensors"));
  if (!built_) MLCORE_RETURN_IF_ERROR(Build(input_shape));
  // Parameter names come from layer names, which may differ from the saved ones: map by order.
  std::map<std::string, Tensor> renamed;
  size_t li = 0;
  for (const auto& layer : layers_) {
    const std::string saved = arch["layers"][li++].value("name", "");
    std::vector<Parameter*> state = layer->parameters();
    for (Parameter* b : layer->buffers()) state.push_back(b);
    for (Parameter* p : state) {
      const std::string slot = p->name.substr(layer->name().size());
      auto it = file.tensors.find(saved + slot);
      if (it != file.tensors.end()) renamed[p->name] = it->second;
    }
  }
  if (renamed.size() != file.tensors.size()) {
    return absl::InvalidArgumentError("checkpoint " + dir +
                                      " holds tensors this model does not have");
  }
  return internal::AssignState(ModelState(*this), renamed, dir);
}

StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir) {
  try {
    return Sequential::LoadModelImpl(dir);
  } catch (const Json::exception& e) {
    return absl::DataLossError("checkpoint " + dir + " is malformed: " + e.what());
  }
}

StatusOr<std::unique_ptr<Sequential>> Sequential::LoadModelImpl(const std::string& dir) {
  MLCORE_ASSIGN_OR_RETURN(Json arch, internal::ReadJsonFile(dir + "/architecture.json"));
  MLCORE_ASSIGN_OR_RETURN(Shape input_shape, InputShape(arch, dir));
  auto model = std::make_unique<Sequential>();
  for (const Json& l : arch["layers"]) {
    if (!l.is_object() || !l.contains("type") || !l["type"].is_string()) {
      return absl::DataLossError(dir + "/architecture.json: a layer has no type");
    }
    MLCORE_ASSIGN_OR_RETURN(
        std::shared_ptr<Layer> layer,
        CreateLayer(l["type"].get<std::string>(), l.value("config", LayerConfig{})));
    layer->set_name(l.value("name", ""));
    MLCORE_RETURN_IF_ERROR(model->Add(std::move(layer)));
  }
  MLCORE_RETURN_IF_ERROR(model->Build(input_shape));
  MLCORE_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(dir + "/model.safetensors"));
  MLCORE_RETURN_IF_ERROR(internal::AssignState(ModelState(*model), file.tensors, dir));
  std::error_code ec;
  if (fs::exists(dir + "/training_state.json", ec)) {
    CompileOptions options;
    int epoch = 0;
    MLCORE_RETURN_IF_ERROR(internal::RestoreTrainingState(dir, &options, &epoch));
    MLCORE_RETURN_IF_ERROR(model->Compile(std::move(options)));
    model->epochs_trained_ = epoch;
  }
  return model;
}

}  // namespace mlcore::nn

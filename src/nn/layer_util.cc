#include "nn/layer_util.h"

namespace mlcore::nn::internal {

StatusOr<Parameter> MakeParameter(const std::string& name, const Shape& shape) {
  Parameter p;
  p.name = name;
  MLCORE_ASSIGN_OR_RETURN(p.value, Tensor::Zeros(shape, DType::kFloat32));
  MLCORE_ASSIGN_OR_RETURN(p.grad, Tensor::Zeros(shape, DType::kFloat32));
  return p;
}

StatusOr<double> ConfigValue(const LayerConfig& config, const std::string& type,
                             const std::string& key) {
  auto it = config.find(key);
  if (it == config.end()) {
    return absl::InvalidArgumentError("layer type '" + type + "' needs config key '" + key + "'");
  }
  return it->second;
}

}  // namespace mlcore::nn::internal

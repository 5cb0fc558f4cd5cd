#include "nn/layer_util.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace mlcore::nn::internal {

StatusOr<Parameter> MakeParameter(const std::string& name, const Shape& shape) {
  Parameter p;
  p.name = name;
  MLCORE_ASSIGN_OR_RETURN(p.value, Tensor::Zeros(shape, DType::kFloat32));
  MLCORE_ASSIGN_OR_RETURN(p.grad, Tensor::Zeros(shape, DType::kFloat32));
  return p;
}

std::vector<Parameter*> DefinedParameters(std::initializer_list<Parameter*> params) {
  std::vector<Parameter*> out;
  for (Parameter* p : params) {
    if (p->value.defined()) out.push_back(p);
  }
  return out;
}

StatusOr<double> ConfigValue(const LayerConfig& config, const std::string& type,
                             const std::string& key) {
  auto it = config.find(key);
  if (it == config.end()) {
    return absl::InvalidArgumentError("layer type '" + type + "' needs config key '" + key + "'");
  }
  return it->second;
}

StatusOr<int64_t> ConfigInt(const LayerConfig& config, const std::string& type,
                            const std::string& key, std::optional<int64_t> fallback) {
  if (fallback.has_value() && config.find(key) == config.end()) return *fallback;
  MLCORE_ASSIGN_OR_RETURN(double v, ConfigValue(config, type, key));
  constexpr double kLimit = 9007199254740992.0;  // 2**53: every integer up to it is exact
  if (!(std::fabs(v) <= kLimit) || v != std::trunc(v)) {
    return absl::InvalidArgumentError(absl::StrCat("layer type '", type, "' config '", key,
                                                   "' must be a whole number within +-2**53, got ",
                                                   v));
  }
  return static_cast<int64_t>(v);
}

}  // namespace mlcore::nn::internal

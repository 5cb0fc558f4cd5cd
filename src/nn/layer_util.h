// Small helpers the built-in layers share.
#pragma once

#include <string>

#include "mlcore/nn/layer.h"

namespace mlcore::nn::internal {

// A zero-initialised float32 CPU parameter with a zero gradient of the same shape.
StatusOr<Parameter> MakeParameter(const std::string& name, const Shape& shape);
// config[key], or InvalidArgument naming the layer type and the key.
StatusOr<double> ConfigValue(const LayerConfig& config, const std::string& type,
                             const std::string& key);

}  // namespace mlcore::nn::internal

// Small helpers the built-in layers share.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "mlcore/nn/layer.h"

namespace mlcore::nn::internal {

// A zero-initialised float32 CPU parameter with a zero gradient of the same shape.
StatusOr<Parameter> MakeParameter(const std::string& name, const Shape& shape);
// The parameters among `params` that exist (a layer without bias has no bias tensor), in order.
std::vector<Parameter*> DefinedParameters(std::initializer_list<Parameter*> params);
// config[key], or InvalidArgument naming the layer type and the key.
StatusOr<double> ConfigValue(const LayerConfig& config, const std::string& type,
                             const std::string& key);
// config[key] as an integer (a size, stride or flag), or `fallback` when absent (InvalidArgument
// when absent without one). Config values are doubles read from architecture.json, which may be
// damaged: a value that is not a whole number within +-2**53 is InvalidArgument naming the layer
// type and key, never an undefined conversion (1e300 used to become INT64_MIN).
StatusOr<int64_t> ConfigInt(const LayerConfig& config, const std::string& type,
                            const std::string& key, std::optional<int64_t> fallback = std::nullopt);

}  // namespace mlcore::nn::internal

// Shared by the optimisers: argument checks and per-parameter state slots.
#pragma once

#include <map>
#include <string>

#include "absl/types/span.h"
#include "mlcore/core/parameter.h"

namespace mlcore::optim::internal {

// float32 CPU value and grad of equal shape, or InvalidArgument naming the parameter.
Status CheckParameters(const std::string& optimizer, absl::Span<Parameter* const> params);

// The slot "<param>/<slot>" of `state`, created as zeros shaped like the parameter.
StatusOr<float*> Slot(std::map<std::string, Tensor>& state, const Parameter& param,
                      const std::string& slot);

// Checks that every key of `state` ends in one of `slots` and has float32 dtype.
Status CheckState(const std::string& optimizer, const std::map<std::string, Tensor>& state,
                  std::initializer_list<const char*> slots);

// Deep copies, so that two optimisers never share moment buffers.
StatusOr<std::map<std::string, Tensor>> CloneState(const std::map<std::string, Tensor>& state);

// config[key] or `fallback`.
double Get(const std::map<std::string, double>& config, const std::string& key, double fallback);

}  // namespace mlcore::optim::internal

// A trainable tensor and its gradient, named "<layer>.<slot>" ("dense_0.kernel"). Layers own
// them; optimisers, checkpoints and the data-parallel reducer all address parameters by these
// names, so the gradient of each parameter is a separate tensor that can be reduced as soon as
// it is ready. It lives in core because nn, optim and the reducer all use it.
#pragma once

#include <functional>
#include <string>

#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"

namespace mlcore {

struct Parameter {
  std::string name;
  Tensor value;  // float32, same shape and device as grad
  Tensor grad;   // overwritten by each backward pass (not accumulated)
};

// Called during a backward pass as soon as `param.grad` holds this step's gradient, in reverse
// layer order. A data-parallel trainer starts reducing that gradient while earlier layers are
// still being differentiated. A non-OK status aborts the step.
using GradReadyHook = std::function<Status(Parameter& param)>;

}  // namespace mlcore

// The names nn code and users have always written: Parameter and GradReadyHook now live in core
// (mlcore/core/parameter.h) so that optim does not depend on nn.
#pragma once

#include "mlcore/core/parameter.h"

namespace mlcore::nn {

using Parameter = ::mlcore::Parameter;
using GradReadyHook = ::mlcore::GradReadyHook;

}  // namespace mlcore::nn

// SGD (sgd.cc) and its CUDA twin (kernels/optim/sgd.cu). The rules both obey, per element in
// float32 with every operation rounded on its own (no fused multiply-add), so that the twins
// agree bit for bit: d = g + wd * w; with momentum v = d on the first step, else v = mu v + d, and
// d = d + mu v (Nesterov) or d = v; then w = w - lr * d.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::optim::cuda {

// One fused SGD update over n elements of device `device`, on the legacy default stream; v is
// the momentum buffer (null without momentum).
Status SgdStep(int device, float* w, const float* g, float* v, int64_t n, float lr, float mu,
               float weight_decay, bool nesterov, bool first);

}  // namespace mlcore::optim::cuda

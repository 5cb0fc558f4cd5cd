// Adam and AdamW (adam.cc) and their CUDA twin (kernels/optim/adam.cu). The rules both obey:
// - float32 weights, gradients and moments; the step's constants (bias corrections folded into
//   the step size and 1 / sqrt(1 - beta2^t), the decoupled decay factor) computed on the host in
//   double once per step and rounded to float32.
// - Per element, in this order and with every operation rounded to float32 on its own (no fused
//   multiply-add): g += wd * w (Adam only); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
//   w = w * decay - step * m / (sqrt(v) * inv_sqrt_c2 + eps). sqrt and the division are
//   correctly rounded on both (AVX on the CPU, sqrtf / __fdiv_rn on CUDA): the twins agree bit
//   for bit.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::optim::cuda {

// The step's float32 constants (see adam.cc).
struct AdamArgs {
  float beta1, beta2, step, inv_sqrt_c2, eps, weight_decay, decay;
  bool decoupled;
};
// One fused Adam/AdamW update over n elements of device `device`, on the legacy default stream.
Status AdamStep(int device, float* w, const float* g, float* m, float* v, int64_t n,
                const AdamArgs& args);

}  // namespace mlcore::optim::cuda

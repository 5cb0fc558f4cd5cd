// LayerNorm (layer_norm.cc) and its CUDA twin (kernels/nn/layer_norm.cu). The rules both obey:
// - Normalised over the last dimension d of [rows, d]; mean and variance (biased) in double,
//   rstd = 1 / sqrt(var + eps) rounded to float32 and saved per row with xhat for the backward.
// - y = xhat * gamma + beta as two float32 roundings (no fused multiply-add on either twin).
// - dgamma and dbeta are summed over rows in row order in float32 (again without FMA); dx per
//   row with its two means in double.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// Raw device pointers of device `device`, the legacy default stream (see nn/dense.h).

// One warp per row. xhat and rstd (per row) are saved for the backward pass.
Status LayerNormForward(int device, const float* x, const float* gamma, const float* beta, float* y,
                        float* xhat, float* rstd, int64_t rows, int64_t d, double eps);
// dx per row (skipped when null); dgamma and dbeta (overwritten) summed over rows in a fixed
// order.
Status LayerNormBackward(int device, const float* dy, const float* xhat, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                         int64_t d);

}  // namespace mlcore::nn::cuda

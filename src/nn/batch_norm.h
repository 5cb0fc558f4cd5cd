// BatchNorm1d / BatchNorm2d (batch_norm.cc) and their CUDA twin (kernels/nn/batch_norm.cu). The
// rules both obey:
// - x is [batch, channels, spatial] (spatial = 1 for BatchNorm1d); statistics per channel over
//   batch * spatial values, summed in double (the mean first, then the squared deviations).
// - rstd = 1 / sqrt(var + eps) with the biased variance, rounded to float32; xhat and rstd are
//   saved for the backward pass. The running mean and the unbiased running variance (m - 1, as
//   in PyTorch) are updated in double and stored as float32.
// - Inference uses the running statistics: y = x * scale + shift per channel in float32.
// - The backward sums dy and dy * xhat per channel in double. The float32 products may be fused
//   differently on the two twins: they agree to float32 rounding.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// Raw device pointers of the device `device`, the legacy default stream (see nn/dense.h).
struct BatchNormArgs {
  int device = 0;
  int64_t batch = 0, channels = 0, spatial = 1;  // x is [batch, channels, spatial]
  float eps = 1e-5f, momentum = 0.1f;
};

// Training forward: batch statistics, xhat and per-channel rstd saved, running stats updated.
Status BatchNormTrain(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                      float* running_mean, float* running_var, float* y, float* xhat, float* rstd);
Status BatchNormInfer(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                      const float* running_mean, const float* running_var, float* y);
// dgamma and dbeta (overwritten), and dx unless it is null.
Status BatchNormBackward(const BatchNormArgs& a, const float* dy, const float* xhat,
                         const float* rstd, const float* gamma, float* dgamma, float* dbeta,
                         float* dx);

}  // namespace mlcore::nn::cuda

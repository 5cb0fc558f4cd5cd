// Gradient-norm clipping (clip.cc) and its CUDA twins (kernels/optim/clip.cu). The rules both
// obey:
// - The norm is the square root of the sum of squares over every gradient, accumulated in double
//   from float32 values. The CPU sums in order; CUDA per block in a fixed order, then across
//   blocks with atomics, so the last bits of the norm may differ.
// - When the norm is finite and above max_norm every gradient is multiplied, in float32, by
//   max_norm / (norm + 1e-6) rounded to float32 once.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::optim::cuda {

// Raw device pointers of device `device`, the legacy default stream.
// Sum of squares of n floats, accumulated in double, copied to the host (synchronises).
StatusOr<double> SumOfSquares(int device, const float* x, int64_t n);
// x[i] *= s.
Status Scale(int device, float* x, int64_t n, float s);

}  // namespace mlcore::optim::cuda

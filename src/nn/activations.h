// The activation layers and Softmax (activations.cc) and their CUDA twins
// (kernels/nn/activations.cu). The rules both obey:
// - Elementwise in float32 with the same formulas: GELU is the erf form, Sigmoid branches on the
//   sign so that exp never overflows. The twins agree to the last bits of expf/erff/tanhf.
// - The backward reads what the forward saved: the input for ReLU and GELU, the output for Tanh
//   and Sigmoid. ReLU's backward is a select, so a blocked gradient is +0 even when dy is
//   infinite or NaN.
// - Softmax runs over the last dimension of [rows, cols], shifted by the row's maximum. The CPU
//   sums the exponentials in float32, CUDA in double: they agree to float32 rounding. Its
//   backward is dx = y * (dy - sum(dy * y)) per row, from the saved output y.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// Raw device pointers of device `device`, the legacy default stream (see nn/dense.h).

enum class Activation : int { kRelu, kGelu, kTanh, kSigmoid };

Status ActivationForward(int device, Activation kind, const float* x, float* y, int64_t n);
// `saved` is the input (ReLU, GELU) or the output (Tanh, Sigmoid), as on the CPU.
Status ActivationBackward(int device, Activation kind, const float* saved, const float* dy,
                          float* dx, int64_t n);

// Softmax over the last dimension of a [rows, cols] matrix, one warp per row.
Status SoftmaxForward(int device, const float* x, float* y, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y)) per row, from the forward output y.
Status SoftmaxBackward(int device, const float* y, const float* dy, float* dx, int64_t rows,
                       int64_t cols);

}  // namespace mlcore::nn::cuda

// The losses (losses.cc) and the CUDA twin of the one that has a kernel, cross-entropy
// (kernels/nn/losses.cu); the others run on the host twin for CUDA tensors too. The rules both
// twins of cross-entropy obey:
// - Logits [rows, classes] and int64 labels in [0, classes), checked on the host with the CPU
//   twin's messages before the kernel runs.
// - Stable: shifted by the row's maximum, log-sum-exp in double. Each row's loss is float32; the
//   mean over rows is taken on the host in double.
// - The gradient is (softmax - onehot) / rows. Weighted batches run on the host twin.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// Raw device pointers of device `device`, the legacy default stream (see nn/dense.h).

// Fused, stable softmax cross-entropy, one warp per row. row_loss[r] receives row r's loss; grad
// (may be null) receives (softmax - onehot) / rows.
Status SoftmaxCrossEntropy(int device, const float* logits, const int64_t* labels, int64_t rows,
                           int64_t classes, float* grad, float* row_loss);

}  // namespace mlcore::nn::cuda

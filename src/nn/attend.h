// The product behind GraphBuilder::Attend: node values times the transposed table of an
// Embedding (a language-model head tied to its input embedding). One function per direction;
// both honour the thread's compute precision (nn/bf16.h) on the CPU and on CUDA.
#pragma once

#include "mlcore/core/tensor.h"

namespace mlcore::nn::internal {

// y[..., V] = x[..., D] table[V, D]^T, with x and table on one device.
StatusOr<Tensor> AttendForward(const Tensor& x, const Tensor& table);

// Given dy[..., V] for the y above: writes d(loss)/d(table) = dy^T x into `dtable` (a [V, D]
// tensor, overwritten) and returns d(loss)/d(x) = dy table when `input_grad` (else undefined).
StatusOr<Tensor> AttendBackward(const Tensor& dy, const Tensor& x, const Tensor& table,
                                Tensor& dtable, bool input_grad);

}  // namespace mlcore::nn::internal

// Elementwise kernels and reductions on whole tensors. Each has a CPU implementation
// (src/ops/*_cpu.cc, Eigen + the shared ThreadPool) and a CUDA twin (kernels/ops/*.cu); the
// tensors' device picks which runs. Operands must share device, dtype and shape: mlcore does not
// broadcast or promote silently, it names the mismatch.
#pragma once

#include "mlcore/core/tensor.h"

namespace mlcore::ops {

// Sets every element to `value`, converted as Cast converts (bool is value != 0; integers
// truncate and saturate).
Status Fill(Tensor& tensor, double value);

// A new tensor holding x converted to `dtype`. Float to int truncates toward zero and saturates
// at the integer's range (NaN gives 0), the same on CPU and GPU; int to narrower int wraps;
// anything to float16/bfloat16 goes through float32 and rounds to nearest even.
StatusOr<Tensor> Cast(const Tensor& x, DType dtype);
// Same into an existing tensor of the same shape and device (its dtype is the target). `out`
// may be x's own memory only when both dtypes have the same element size.
Status CastInto(const Tensor& x, Tensor& out);

// a + b and a * b. Numeric dtypes only (not bool). float16/bfloat16 compute in float32;
// integers wrap around.
StatusOr<Tensor> Add(const Tensor& a, const Tensor& b);
StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b);
// Into an existing `out`, which may be a or b itself but not partially overlap them.
Status AddInto(const Tensor& a, const Tensor& b, Tensor& out);
Status MulInto(const Tensor& a, const Tensor& b, Tensor& out);

// y += alpha * x, in place. Floating dtypes only.
Status Axpy(double alpha, const Tensor& x, Tensor& y);

// The sum of all elements as a 0-dimensional tensor on x's device. Floating inputs accumulate
// in float64 and return x's dtype (float32 for the 16-bit floats); integer and bool inputs
// return int64 (wrapping on overflow). Repeatable: the same input gives the same bits.
StatusOr<Tensor> Sum(const Tensor& x);
// Convenience: the sum as a host double.
StatusOr<double> SumToDouble(const Tensor& x);

}  // namespace mlcore::ops

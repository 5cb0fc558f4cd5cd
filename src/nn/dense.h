// Dense (dense.cc) and its CUDA twin (kernels/nn/dense.cu). The rules both obey:
// - Row-major everywhere: x [batch, in], the kernel W [in, units], y [batch, units] = x W + b.
// - float32: the CPU multiplies with cpu_math's GEMM and CUDA with cublasSgemm; both accumulate
//   in float32 in their own order, so the twins agree to float32 rounding, not bit for bit.
// - bf16 (nn/bf16.h): both round the GEMM operands to bf16 (nearest even, FloatToBFloat16) and
//   accumulate the products in float32; the bias and every output stay float32.
// - The bias gradient is the column sum of dy, walked in row order in float32 on both.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// The CUDA twins work on raw device pointers of device `device`, queued on the legacy default
// stream (ordered with Tensor copies and the caching allocator). Callers reach them only for
// tensors already on a CUDA device, through MLCORE_CUDA_TWIN (core/device_dispatch.h).

// Row-major C[m,n] = op(A)[m,k] * op(B)[k,n] (+ C when accumulate) with cublasSgemm. op(A) = A^T
// when trans_a (A then stored [k,m]); likewise B. m, n, k must fit in int32 (cuBLAS's); k == 0
// gives C = 0 (or leaves C when accumulating). When the calling thread's compute precision is
// bf16 (nn/bf16.h) this is GemmBf16.
Status Gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
            const float* b, float* c, bool accumulate);
// A GEMM operand under bf16: its float32 values, or the same values already converted to bf16 bits
// (ToBf16) when `bits` is set; the float32 ones are then not read.
struct GemmOperand {
  const float* values = nullptr;
  const uint16_t* bits = nullptr;
};
// The same product with A and B converted to bf16 (round to nearest even, bit for bit the CPU's
// FloatToBFloat16) and multiplied on tensor cores by cublasGemmEx with float32 accumulation and a
// float32 C. An operand given as bits skips its conversion (a weight converted once per step).
Status GemmBf16(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                GemmOperand a, GemmOperand b, float* c, bool accumulate);
inline Status GemmBf16(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                       const float* a, const float* b, float* c, bool accumulate) {
  return GemmBf16(device, trans_a, trans_b, m, n, k, GemmOperand{a, nullptr},
                  GemmOperand{b, nullptr}, c, accumulate);
}
// y[r, :] = bias for every row.
Status BroadcastRows(int device, const float* bias, float* y, int64_t rows, int64_t cols);
// db[j] = sum over rows of dy[r, j].
Status SumRows(int device, const float* dy, float* db, int64_t rows, int64_t cols);

}  // namespace mlcore::nn::cuda

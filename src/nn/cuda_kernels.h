// The CUDA twins of the CPU loops in src/nn and src/optim, on raw device pointers of device
// `device`, queued on the legacy default stream (ordered with Tensor copies and the caching
// allocator). Defined in kernels/nn/*.cu; only a build with MLCORE_WITH_CUDA links them, and
// callers reach them only for tensors already on a CUDA device.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

enum class Activation : int { kRelu, kGelu, kTanh, kSigmoid };

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
// out[i] = the bf16 bits of in[i] (round to nearest even; NaN stays NaN with the CPU's payload).
Status ToBf16(int device, const float* in, uint16_t* out, int64_t n);
// out[i] = in[i] rounded to bf16 and widened back (the CPU's internal::RoundToBf16); in == out
// is allowed.
Status RoundToBf16(int device, const float* in, float* out, int64_t n);
// y[r, :] = bias for every row.
Status BroadcastRows(int device, const float* bias, float* y, int64_t rows, int64_t cols);
// db[j] = sum over rows of dy[r, j].
Status SumRows(int device, const float* dy, float* db, int64_t rows, int64_t cols);

Status ActivationForward(int device, Activation kind, const float* x, float* y, int64_t n);
// `saved` is the input (ReLU, GELU) or the output (Tanh, Sigmoid), as on the CPU.
Status ActivationBackward(int device, Activation kind, const float* saved, const float* dy,
                          float* dx, int64_t n);

// Fused, stable softmax cross-entropy, one warp per row. labels are int64 in [0, classes)
// (checked by the caller); row_loss[r] receives row r's loss; grad (may be null) receives
// (softmax - onehot) / rows.
Status SoftmaxCrossEntropy(int device, const float* logits, const int64_t* labels, int64_t rows,
                           int64_t classes, float* grad, float* row_loss);

// Softmax over the last dimension of a [rows, cols] matrix, one warp per row (max-shifted; the
// sum in double, where the CPU twin sums in float: the two agree to float rounding).
Status SoftmaxForward(int device, const float* x, float* y, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y)) per row, from the forward output y.
Status SoftmaxBackward(int device, const float* y, const float* dy, float* dx, int64_t rows,
                       int64_t cols);

// LayerNorm over the last dimension d of [rows, d]: one warp per row, statistics in double.
// xhat and rstd (per row) are saved for the backward pass.
Status LayerNormForward(int device, const float* x, const float* gamma, const float* beta, float* y,
                        float* xhat, float* rstd, int64_t rows, int64_t d, double eps);
// dx per row; dgamma and dbeta (overwritten) summed over rows in a fixed order.
Status LayerNormBackward(int device, const float* dy, const float* xhat, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                         int64_t d);

// `rows` rows of `width` bytes from src (rows `src_pitch` bytes apart) to dst (`dst_pitch`
// apart), device to device: Concatenate's forward and backward on CUDA.
Status CopyRows(int device, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                size_t width, int64_t rows);

// One fused Adam/AdamW update over n elements (the CPU twin's arithmetic).
struct AdamArgs {
  float beta1, beta2, step, inv_sqrt_c2, eps, weight_decay, decay;
  bool decoupled;
};
Status AdamStep(int device, float* w, const float* g, float* m, float* v, int64_t n,
                const AdamArgs& args);
// SGD with optional momentum buffer v (null without momentum).
Status SgdStep(int device, float* w, const float* g, float* v, int64_t n, float lr, float mu,
               float weight_decay, bool nesterov, bool first);

// Sum of squares of n floats, accumulated in double, copied to the host (synchronises).
StatusOr<double> SumOfSquares(int device, const float* x, int64_t n);
Status Scale(int device, float* x, int64_t n, float s);

}  // namespace mlcore::nn::cuda

// The CUDA twins of the CPU loops in src/nn and src/optim, on raw device pointers of device
// `device`, queued on the legacy default stream (ordered with Tensor copies and the caching
// allocator). Defined in kernels/nn/*.cu; only a build with MLCORE_WITH_CUDA links them, and
// callers reach them only for tensors already on a CUDA device.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

enum class Activation : int { kRelu, kGelu, kTanh, kSigmoid };

// Row-major C[m,n] = op(A)[m,k] * op(B)[k,n] (+ C when accumulate) with cublasSgemm. op(A) = A^T
// when trans_a (A then stored [k,m]); likewise B.
Status Gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
            const float* b, float* c, bool accumulate);
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

// CUDA twins of the nn and optim CPU loops (see src/nn/cuda_kernels.h). Elementwise kernels are
// grid-stride loops; the loss uses one warp per row with shuffles for max and sum; GEMMs go to
// cuBLAS with one handle per device.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "cuda_common.cuh"
#include "nn/bf16.h"
#include "nn/cuda_kernels.h"
#include "nn/cuda_scratch.h"

namespace mlcore::nn::cuda {
namespace {

__device__ float ActF(Activation kind, float x) {
  switch (kind) {
    case Activation::kRelu:
      return x < 0.0f ? 0.0f : x;
    case Activation::kGelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Activation::kTanh:
      return tanhf(x);
    case Activation::kSigmoid:
      if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
      return expf(x) / (1.0f + expf(x));
  }
  return x;
}

__device__ float ActD(Activation kind, float s) {
  switch (kind) {
    case Activation::kRelu:
      return s > 0.0f ? 1.0f : 0.0f;
    case Activation::kGelu: {
      const float cdf = 0.5f * (1.0f + erff(s * 0.70710678118654752f));
      return cdf + s * 0.39894228040143268f * expf(-0.5f * s * s);
    }
    case Activation::kTanh:
      return 1.0f - s * s;
    case Activation::kSigmoid:
      return s * (1.0f - s);
  }
  return 1.0f;
}

__global__ void ActForwardKernel(Activation kind, const float* x, float* y, int64_t n) {
  MLCORE_GRID_STRIDE(i, n) { y[i] = ActF(kind, x[i]); }
}

__global__ void ActBackwardKernel(Activation kind, const float* s, const float* dy, float* dx,
                                  int64_t n) {
  MLCORE_GRID_STRIDE(i, n) {
    // ReLU as a select, like the CPU twin: a blocked gradient is +0 even for an infinite or NaN
    // dy (a product with 0 would give NaN, or -0 for a negative dy).
    dx[i] = kind == Activation::kRelu ? (s[i] > 0.0f ? dy[i] : 0.0f) : dy[i] * ActD(kind, s[i]);
  }
}

__global__ void BroadcastRowsKernel(const float* bias, float* y, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  MLCORE_GRID_STRIDE(i, n) { y[i] = bias[i % cols]; }
}

// One thread per column; rows are walked in order, so the sum is deterministic.
__global__ void SumRowsKernel(const float* dy, float* db, int64_t rows, int64_t cols) {
  MLCORE_GRID_STRIDE(j, cols) {
    float s = 0.0f;
    for (int64_t r = 0; r < rows; ++r) s += dy[r * cols + j];
    db[j] = s;
  }
}

__global__ void SoftmaxCrossEntropyKernel(const float* z, const int64_t* labels, int64_t rows,
                                          int64_t classes, float* grad, float* row_loss) {
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* zr = z + row * classes;
  float m = -INFINITY;
  for (int64_t j = lane; j < classes; j += 32) m = fmaxf(m, zr[j]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  double sum = 0.0;
  for (int64_t j = lane; j < classes; j += 32) sum += exp(static_cast<double>(zr[j] - m));
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  const double log_sum = log(sum);
  const int64_t label = labels[row];
  if (lane == 0) row_loss[row] = static_cast<float>(log_sum - (zr[label] - m));
  if (grad != nullptr) {
    const float inv_rows = 1.0f / static_cast<float>(rows);
    for (int64_t j = lane; j < classes; j += 32) {
      const float p = static_cast<float>(exp(static_cast<double>(zr[j] - m) - log_sum));
      grad[row * classes + j] = (p - (j == label ? 1.0f : 0.0f)) * inv_rows;
    }
  }
}

__device__ double WarpSum(double v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__global__ void SoftmaxForwardKernel(const float* x, float* y, int64_t rows, int64_t cols) {
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* xr = x + row * cols;
  float* yr = y + row * cols;
  float m = -INFINITY;
  for (int64_t j = lane; j < cols; j += 32) m = fmaxf(m, xr[j]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  double sum = 0.0;
  for (int64_t j = lane; j < cols; j += 32) sum += expf(xr[j] - m);
  const float inv = static_cast<float>(1.0 / WarpSum(sum));
  for (int64_t j = lane; j < cols; j += 32) yr[j] = expf(xr[j] - m) * inv;
}

__global__ void SoftmaxBackwardKernel(const float* y, const float* dy, float* dx, int64_t rows,
                                      int64_t cols) {
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int64_t o = row * cols;
  double dot = 0.0;
  for (int64_t j = lane; j < cols; j += 32) dot += static_cast<double>(dy[o + j]) * y[o + j];
  const float d = static_cast<float>(WarpSum(dot));
  for (int64_t j = lane; j < cols; j += 32) dx[o + j] = y[o + j] * (dy[o + j] - d);
}

__global__ void LayerNormForwardKernel(const float* x, const float* gamma, const float* beta,
                                       float* y, float* xhat, float* rstd, int64_t rows, int64_t d,
                                       double eps) {
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int64_t o = row * d;
  double s = 0.0;
  for (int64_t j = lane; j < d; j += 32) s += x[o + j];
  const double mean = WarpSum(s) / static_cast<double>(d);
  double ss = 0.0;
  for (int64_t j = lane; j < d; j += 32) {
    const double c = x[o + j] - mean;
    ss += c * c;
  }
  const double var = WarpSum(ss) / static_cast<double>(d);
  const float rs = static_cast<float>(1.0 / sqrt(var + eps));
  if (lane == 0) rstd[row] = rs;
  for (int64_t j = lane; j < d; j += 32) {
    const float h = static_cast<float>(x[o + j] - mean) * rs;
    xhat[o + j] = h;
    y[o + j] = __fadd_rn(__fmul_rn(h, gamma[j]), beta[j]);  // no FMA: the CPU rounds twice
  }
}

__global__ void LayerNormBackwardKernel(const float* dy, const float* xhat, const float* rstd,
                                        const float* gamma, float* dx, int64_t rows, int64_t d) {
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int64_t o = row * d;
  double s = 0.0, sh = 0.0;
  for (int64_t j = lane; j < d; j += 32) {
    const double dh = static_cast<double>(dy[o + j]) * gamma[j];
    s += dh;
    sh += dh * xhat[o + j];
  }
  const double mean_dh = WarpSum(s) / static_cast<double>(d);
  const double mean_dh_h = WarpSum(sh) / static_cast<double>(d);
  const double rs = rstd[row];
  for (int64_t j = lane; j < d; j += 32) {
    const double dh = static_cast<double>(dy[o + j]) * gamma[j];
    dx[o + j] = static_cast<float>(rs * (dh - mean_dh - xhat[o + j] * mean_dh_h));
  }
}

// One thread per column, rows walked in order: deterministic sums.
__global__ void LayerNormParamGradKernel(const float* dy, const float* xhat, float* dgamma,
                                         float* dbeta, int64_t rows, int64_t d) {
  MLCORE_GRID_STRIDE(j, d) {
    float g = 0.0f, b = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      g = __fadd_rn(g, __fmul_rn(dy[r * d + j], xhat[r * d + j]));  // no FMA, as the CPU
      b += dy[r * d + j];
    }
    dgamma[j] = g;
    dbeta[j] = b;
  }
}

__global__ void AdamKernel(float* w, const float* g, float* m, float* v, int64_t n, AdamArgs a) {
  MLCORE_GRID_STRIDE(i, n) {
    const float gi = a.decoupled ? g[i] : __fadd_rn(g[i], __fmul_rn(a.weight_decay, w[i]));
    const float mi = __fadd_rn(__fmul_rn(a.beta1, m[i]), __fmul_rn(1.0f - a.beta1, gi));
    const float vi =
        __fadd_rn(__fmul_rn(a.beta2, v[i]), __fmul_rn(__fmul_rn(1.0f - a.beta2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(sqrtf(vi), a.inv_sqrt_c2), a.eps);
    w[i] = __fsub_rn(__fmul_rn(w[i], a.decay), __fdiv_rn(__fmul_rn(a.step, mi), denom));
  }
}

__global__ void SgdKernel(float* w, const float* g, float* v, int64_t n, float lr, float mu,
                          float wd, bool nesterov, bool first) {
  MLCORE_GRID_STRIDE(i, n) {
    float d = __fadd_rn(g[i], __fmul_rn(wd, w[i]));
    if (v != nullptr) {
      v[i] = first ? d : __fadd_rn(__fmul_rn(mu, v[i]), d);
      d = nesterov ? __fadd_rn(d, __fmul_rn(mu, v[i])) : v[i];
    }
    w[i] = __fsub_rn(w[i], __fmul_rn(lr, d));
  }
}

__global__ void SumOfSquaresKernel(const float* x, int64_t n, double* out) {
  __shared__ double partial[kThreads];
  double s = 0.0;
  MLCORE_GRID_STRIDE(i, n) { s += static_cast<double>(x[i]) * x[i]; }
  s = BlockSum(s, partial);
  // One atomic per block: the blocks' order varies, so the last bits of the total may too.
  if (threadIdx.x == 0) atomicAdd(out, s);
}

// mlcore::FloatToBFloat16 (core/half.h) on the device, integer op for integer op: round to
// nearest even, and a NaN keeps its sign and payload with the quiet bit set. (cuda_bf16.h's
// __float2bfloat16_rn returns one canonical NaN, 0x7fff, which the CPU twin does not.)
__device__ __forceinline__ uint16_t Bf16Bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__global__ void ToBf16Kernel(const float* in, uint16_t* out, int64_t n) {
  MLCORE_GRID_STRIDE(i, n) { out[i] = Bf16Bits(in[i]); }
}

__global__ void RoundToBf16Kernel(const float* in, float* out, int64_t n) {
  MLCORE_GRID_STRIDE(i, n) { out[i] = __uint_as_float(uint32_t{Bf16Bits(in[i])} << 16); }
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  MLCORE_GRID_STRIDE(i, n) { x[i] *= s; }
}

}  // namespace

StatusOr<cublasHandle_t> CublasHandle(const char* op, int device) {
  static std::mutex mu;
  static cublasHandle_t handles[kMaxDevices] = {};
  if (device < 0 || device >= kMaxDevices) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::", op, ": CUDA device index ", device, " out of range"));
  }
  MLCORE_RETURN_IF_ERROR(UseDevice(op, device));
  std::lock_guard<std::mutex> lock(mu);
  if (handles[device] == nullptr) {
    cublasHandle_t h = nullptr;
    MLCORE_RETURN_IF_ERROR(CheckBlas(op, cublasCreate(&h)));
    handles[device] = h;
  }
  return handles[device];
}

namespace {

constexpr int64_t kIntMax = 2147483647;

// What every GEMM checks first. Sets *done when nothing is left to multiply: an empty C, or
// k == 0, where C = 0 (beta 0) or C stays (accumulate), as cuBLAS defines it but without handing
// cuBLAS the leading dimension 0 that it rejects.
Status GemmPrologue(const char* op, int device, int64_t m, int64_t n, int64_t k, float* c,
                    bool accumulate, bool* done) {
  *done = true;
  if (m < 0 || n < 0 || k < 0 || m > kIntMax || n > kIntMax || k > kIntMax) {
    return absl::InvalidArgumentError(absl::StrCat("nn::", op, ": GEMM dimensions m=", m, " n=", n,
                                                   " k=", k, " outside cuBLAS's int32 range"));
  }
  MLCORE_RETURN_IF_ERROR(UseDevice(op, device));
  if (m == 0 || n == 0) return absl::OkStatus();
  if (k == 0) {
    if (accumulate) return absl::OkStatus();
    return Check(op, cudaMemsetAsync(c, 0, sizeof(float) * m * n, 0));
  }
  *done = false;
  return absl::OkStatus();
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first. A
// row-major [r, c] matrix is a column-major [c, r] one with leading dimension c, hence
// lda = (trans_a ? m : k) and ldb = (trans_b ? k : n); ldc = n.
struct ColumnMajor {
  cublasOperation_t op_b, op_a;
  int m, n, k, ldb, lda, ldc;
};
ColumnMajor ToColumnMajor(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
  return ColumnMajor{trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                     trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                     static_cast<int>(n),
                     static_cast<int>(m),
                     static_cast<int>(k),
                     static_cast<int>(trans_b ? k : n),
                     static_cast<int>(trans_a ? m : k),
                     static_cast<int>(n)};
}

}  // namespace

Status Gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
            const float* b, float* c, bool accumulate) {
  if (internal::ComputePrecision() == internal::Precision::kBFloat16) {
    return GemmBf16(device, trans_a, trans_b, m, n, k, a, b, c, accumulate);
  }
  bool done = false;
  MLCORE_RETURN_IF_ERROR(GemmPrologue("Gemm", device, m, n, k, c, accumulate, &done));
  if (done) return absl::OkStatus();
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, CublasHandle("Gemm", device));
  const ColumnMajor g = ToColumnMajor(trans_a, trans_b, m, n, k);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  return CheckBlas("Gemm (cublasSgemm)", cublasSgemm(handle, g.op_b, g.op_a, g.m, g.n, g.k, &alpha,
                                                     b, g.ldb, a, g.lda, &beta, c, g.ldc));
}

Status GemmBf16(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                GemmOperand a, GemmOperand b, float* c, bool accumulate) {
  bool done = false;
  MLCORE_RETURN_IF_ERROR(GemmPrologue("GemmBf16", device, m, n, k, c, accumulate, &done));
  if (done) return absl::OkStatus();
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, CublasHandle("GemmBf16", device));
  // One scratch block for the operands that still need converting; B starts 256-byte aligned,
  // like A, so that cuBLAS can use its vectorised tensor-core kernels for both.
  const int64_t a_elems = a.bits ? 0 : (m * k + 127) / 128 * 128;
  const int64_t b_elems = b.bits ? 0 : k * n;
  internal::CudaScratch store;
  if (a_elems + b_elems > 0) {
    MLCORE_RETURN_IF_ERROR(store.Allocate(device, sizeof(uint16_t) * (a_elems + b_elems)));
  }
  const uint16_t* a16 = a.bits;
  const uint16_t* b16 = b.bits;
  if (a16 == nullptr) {
    ToBf16Kernel<<<Blocks(m * k), kThreads>>>(a.values, store.get<uint16_t>(), m * k);
    a16 = store.get<uint16_t>();
  }
  if (b16 == nullptr) {
    ToBf16Kernel<<<Blocks(k * n), kThreads>>>(b.values, store.get<uint16_t>() + a_elems, k * n);
    b16 = store.get<uint16_t>() + a_elems;
  }
  MLCORE_RETURN_IF_ERROR(CheckLaunch("GemmBf16 conversion"));
  const ColumnMajor g = ToColumnMajor(trans_a, trans_b, m, n, k);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  return CheckBlas("GemmBf16 (cublasGemmEx)",
                   cublasGemmEx(handle, g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b16, CUDA_R_16BF,
                                g.ldb, a16, CUDA_R_16BF, g.lda, &beta, c, CUDA_R_32F, g.ldc,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

Status ToBf16(int device, const float* in, uint16_t* out, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("ToBf16", device));
  if (n <= 0) return absl::OkStatus();
  ToBf16Kernel<<<Blocks(n), kThreads>>>(in, out, n);
  return CheckLaunch("ToBf16");
}

Status RoundToBf16(int device, const float* in, float* out, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("RoundToBf16", device));
  if (n <= 0) return absl::OkStatus();
  RoundToBf16Kernel<<<Blocks(n), kThreads>>>(in, out, n);
  return CheckLaunch("RoundToBf16");
}

Status BroadcastRows(int device, const float* bias, float* y, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("BroadcastRows", device));
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  BroadcastRowsKernel<<<Blocks(rows * cols), kThreads>>>(bias, y, rows, cols);
  return CheckLaunch("BroadcastRows");
}

Status SumRows(int device, const float* dy, float* db, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SumRows", device));
  if (cols <= 0) return absl::OkStatus();
  SumRowsKernel<<<Blocks(cols), kThreads>>>(dy, db, rows, cols);  // rows == 0 writes zeros
  return CheckLaunch("SumRows");
}

Status ActivationForward(int device, Activation kind, const float* x, float* y, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("ActivationForward", device));
  if (n <= 0) return absl::OkStatus();
  ActForwardKernel<<<Blocks(n), kThreads>>>(kind, x, y, n);
  return CheckLaunch("ActivationForward");
}

Status ActivationBackward(int device, Activation kind, const float* saved, const float* dy,
                          float* dx, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("ActivationBackward", device));
  if (n <= 0) return absl::OkStatus();
  ActBackwardKernel<<<Blocks(n), kThreads>>>(kind, saved, dy, dx, n);
  return CheckLaunch("ActivationBackward");
}

namespace {
// Blocks of kThreads for one warp per row. Grid x may reach 2^31 - 1, so no clamp is needed
// below 2^34 rows.
unsigned WarpRowBlocks(int64_t rows) {
  constexpr int64_t kRowsPerBlock = kThreads / 32;
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}
}  // namespace

Status SoftmaxCrossEntropy(int device, const float* logits, const int64_t* labels, int64_t rows,
                           int64_t classes, float* grad, float* row_loss) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SoftmaxCrossEntropy", device));
  if (rows <= 0) return absl::OkStatus();  // a grid of 0 blocks is a launch error
  if (classes <= 0) {
    return absl::InvalidArgumentError("nn::SoftmaxCrossEntropy: logits need at least one class");
  }
  SoftmaxCrossEntropyKernel<<<WarpRowBlocks(rows), kThreads>>>(logits, labels, rows, classes, grad,
                                                               row_loss);
  return CheckLaunch("SoftmaxCrossEntropy");
}

Status SoftmaxForward(int device, const float* x, float* y, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SoftmaxForward", device));
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  SoftmaxForwardKernel<<<WarpRowBlocks(rows), kThreads>>>(x, y, rows, cols);
  return CheckLaunch("SoftmaxForward");
}

Status SoftmaxBackward(int device, const float* y, const float* dy, float* dx, int64_t rows,
                       int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SoftmaxBackward", device));
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  SoftmaxBackwardKernel<<<WarpRowBlocks(rows), kThreads>>>(y, dy, dx, rows, cols);
  return CheckLaunch("SoftmaxBackward");
}

Status LayerNormForward(int device, const float* x, const float* gamma, const float* beta, float* y,
                        float* xhat, float* rstd, int64_t rows, int64_t d, double eps) {
  MLCORE_RETURN_IF_ERROR(UseDevice("LayerNormForward", device));
  if (rows <= 0 || d <= 0) return absl::OkStatus();
  LayerNormForwardKernel<<<WarpRowBlocks(rows), kThreads>>>(x, gamma, beta, y, xhat, rstd, rows, d,
                                                            eps);
  return CheckLaunch("LayerNormForward");
}

Status LayerNormBackward(int device, const float* dy, const float* xhat, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                         int64_t d) {
  MLCORE_RETURN_IF_ERROR(UseDevice("LayerNormBackward", device));
  if (d <= 0) return absl::OkStatus();
  LayerNormParamGradKernel<<<Blocks(d), kThreads>>>(dy, xhat, dgamma, dbeta, rows, d);
  MLCORE_RETURN_IF_ERROR(CheckLaunch("LayerNorm parameter gradients"));
  if (rows <= 0 || dx == nullptr) return absl::OkStatus();
  LayerNormBackwardKernel<<<WarpRowBlocks(rows), kThreads>>>(dy, xhat, rstd, gamma, dx, rows, d);
  return CheckLaunch("LayerNormBackward");
}

Status CopyRows(int device, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                size_t width, int64_t rows) {
  MLCORE_RETURN_IF_ERROR(UseDevice("CopyRows", device));
  if (rows <= 0 || width == 0) return absl::OkStatus();
  // On the legacy default stream (0), ordered with the kernels around it.
  return Check("CopyRows",
               cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, static_cast<size_t>(rows),
                                 cudaMemcpyDeviceToDevice, 0));
}

Status AdamStep(int device, float* w, const float* g, float* m, float* v, int64_t n,
                const AdamArgs& args) {
  MLCORE_RETURN_IF_ERROR(UseDevice("AdamStep", device));
  if (n <= 0) return absl::OkStatus();
  AdamKernel<<<Blocks(n), kThreads>>>(w, g, m, v, n, args);
  return CheckLaunch("AdamStep");
}

Status SgdStep(int device, float* w, const float* g, float* v, int64_t n, float lr, float mu,
               float weight_decay, bool nesterov, bool first) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SgdStep", device));
  if (n <= 0) return absl::OkStatus();
  SgdKernel<<<Blocks(n), kThreads>>>(w, g, v, n, lr, mu, weight_decay, nesterov, first);
  return CheckLaunch("SgdStep");
}

StatusOr<double> SumOfSquares(int device, const float* x, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SumOfSquares", device));
  if (n <= 0) return 0.0;
  // The caching allocator's block, not cudaMalloc/cudaFree: cudaFree would synchronise the
  // whole device on every call of a clipped training step.
  internal::CudaScratch out;
  MLCORE_RETURN_IF_ERROR(out.Allocate(device, sizeof(double)));
  MLCORE_RETURN_IF_ERROR(Check("SumOfSquares", cudaMemsetAsync(out.get(), 0, sizeof(double), 0)));
  SumOfSquaresKernel<<<std::min(Blocks(n), 1024), kThreads>>>(x, n, out.get<double>());
  MLCORE_RETURN_IF_ERROR(CheckLaunch("SumOfSquares"));
  double result = 0.0;
  // Synchronous copy on the legacy default stream: waits for the kernel.
  MLCORE_RETURN_IF_ERROR(Check("SumOfSquares result", cudaMemcpy(&result, out.get(), sizeof(double),
                                                                 cudaMemcpyDeviceToHost)));
  return result;
}

Status Scale(int device, float* x, int64_t n, float s) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Scale", device));
  if (n <= 0) return absl::OkStatus();
  ScaleKernel<<<Blocks(n), kThreads>>>(x, n, s);
  return CheckLaunch("Scale");
}

}  // namespace mlcore::nn::cuda

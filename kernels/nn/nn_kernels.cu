// CUDA twins of the nn and optim CPU loops (see src/nn/cuda_kernels.h). Elementwise kernels are
// grid-stride loops; the loss uses one warp per row with shuffles for max and sum; GEMMs go to
// cuBLAS with one handle per device.
#include <cublas_v2.h>
#include <cuda_bf16.h>
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
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = ActF(kind, x[i]);
  }
}

__global__ void ActBackwardKernel(Activation kind, const float* s, const float* dy, float* dx,
                                  int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    dx[i] = dy[i] * ActD(kind, s[i]);
  }
}

__global__ void BroadcastRowsKernel(const float* bias, float* y, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = bias[i % cols];
  }
}

// One thread per column; rows are walked in order, so the sum is deterministic.
__global__ void SumRowsKernel(const float* dy, float* db, int64_t rows, int64_t cols) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < cols;
       j += int64_t{gridDim.x} * blockDim.x) {
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
    y[o + j] = h * gamma[j] + beta[j];
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
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < d;
       j += int64_t{gridDim.x} * blockDim.x) {
    float g = 0.0f, b = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      g += dy[r * d + j] * xhat[r * d + j];
      b += dy[r * d + j];
    }
    dgamma[j] = g;
    dbeta[j] = b;
  }
}

__global__ void AdamKernel(float* w, const float* g, float* m, float* v, int64_t n, AdamArgs a) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
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
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
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
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    s += static_cast<double>(x[i]) * x[i];
  }
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, partial[0]);
}

__global__ void ToBf16Kernel(const float* in, __nv_bfloat16* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2bfloat16_rn(in[i]);
  }
}

__global__ void RoundToBf16Kernel(const float* in, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __bfloat162float(__float2bfloat16_rn(in[i]));
  }
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    x[i] *= s;
  }
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
    MLCORE_RETURN_IF_ERROR(CheckBlas("cublasCreate", cublasCreate(&h)));
    handles[device] = h;
  }
  return handles[device];
}

Status Gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
            const float* b, float* c, bool accumulate) {
  if (internal::ComputePrecision() == internal::Precision::kBFloat16) {
    return GemmBf16(device, trans_a, trans_b, m, n, k, a, b, c, accumulate);
  }
  MLCORE_RETURN_IF_ERROR(UseDevice("Gemm", device));
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, CublasHandle("Gemm", device));
  // cuBLAS is column-major: row-major C = A B is column-major C^T = B^T A^T.
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const int lda = static_cast<int>(trans_a ? m : k);
  const int ldb = static_cast<int>(trans_b ? k : n);
  const cublasStatus_t st =
      cublasSgemm(handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                  static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b, ldb, a,
                  lda, &beta, c, static_cast<int>(n));
  if (st != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError(
        absl::StrCat("nn::Gemm: cublasSgemm failed: ", cublasGetStatusString(st)));
  }
  return absl::OkStatus();
}

Status GemmBf16(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                const float* a, const float* b, float* c, bool accumulate) {
  MLCORE_RETURN_IF_ERROR(UseDevice("GemmBf16", device));
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, CublasHandle("Gemm", device));
  if (m <= 0 || n <= 0) return absl::OkStatus();
  // One scratch block for both bf16 operands; B starts 256-byte aligned, like A, so that
  // cuBLAS can use its vectorised tensor-core kernels for both.
  const int64_t a_elems = (m * k + 127) / 128 * 128;
  internal::CudaScratch store;
  MLCORE_RETURN_IF_ERROR(store.Allocate(device, sizeof(__nv_bfloat16) * (a_elems + k * n)));
  __nv_bfloat16* a16 = store.get<__nv_bfloat16>();
  __nv_bfloat16* b16 = a16 + a_elems;
  ToBf16Kernel<<<Blocks(m * k), kThreads>>>(a, a16, m * k);
  ToBf16Kernel<<<Blocks(k * n), kThreads>>>(b, b16, k * n);
  MLCORE_RETURN_IF_ERROR(CheckLaunch("GemmBf16 conversion"));
  // As in Gemm: row-major C = A B is column-major C^T = B^T A^T.
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const int lda = static_cast<int>(trans_a ? m : k);
  const int ldb = static_cast<int>(trans_b ? k : n);
  const cublasStatus_t st =
      cublasGemmEx(handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                   static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b16,
                   CUDA_R_16BF, ldb, a16, CUDA_R_16BF, lda, &beta, c, CUDA_R_32F,
                   static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError(
        absl::StrCat("nn::GemmBf16: cublasGemmEx failed: ", cublasGetStatusString(st)));
  }
  return absl::OkStatus();
}

Status RoundToBf16(int device, const float* in, float* out, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("RoundToBf16", device));
  if (n <= 0) return absl::OkStatus();
  RoundToBf16Kernel<<<Blocks(n), kThreads>>>(in, out, n);
  return CheckLaunch("RoundToBf16");
}

Status BroadcastRows(int device, const float* bias, float* y, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("BroadcastRows", device));
  BroadcastRowsKernel<<<Blocks(rows * cols), kThreads>>>(bias, y, rows, cols);
  return CheckLaunch("BroadcastRows");
}

Status SumRows(int device, const float* dy, float* db, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SumRows", device));
  SumRowsKernel<<<Blocks(cols), kThreads>>>(dy, db, rows, cols);
  return CheckLaunch("SumRows");
}

Status ActivationForward(int device, Activation kind, const float* x, float* y, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("ActivationForward", device));
  ActForwardKernel<<<Blocks(n), kThreads>>>(kind, x, y, n);
  return CheckLaunch("ActivationForward");
}

Status ActivationBackward(int device, Activation kind, const float* saved, const float* dy,
                          float* dx, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("ActivationBackward", device));
  ActBackwardKernel<<<Blocks(n), kThreads>>>(kind, saved, dy, dx, n);
  return CheckLaunch("ActivationBackward");
}

Status SoftmaxCrossEntropy(int device, const float* logits, const int64_t* labels, int64_t rows,
                           int64_t classes, float* grad, float* row_loss) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SoftmaxCrossEntropy", device));
  constexpr int kRowsPerBlock = kThreads / 32;
  const int blocks = static_cast<int>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  SoftmaxCrossEntropyKernel<<<blocks, kThreads>>>(logits, labels, rows, classes, grad, row_loss);
  return CheckLaunch("SoftmaxCrossEntropy");
}

namespace {
unsigned WarpRowBlocks(int64_t rows) {
  constexpr int64_t kRowsPerBlock = kThreads / 32;
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}
}  // namespace

Status SoftmaxForward(int device, const float* x, float* y, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SoftmaxForward", device));
  if (rows <= 0) return absl::OkStatus();
  SoftmaxForwardKernel<<<WarpRowBlocks(rows), kThreads>>>(x, y, rows, cols);
  return CheckLaunch("SoftmaxForward");
}

Status SoftmaxBackward(int device, const float* y, const float* dy, float* dx, int64_t rows,
                       int64_t cols) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SoftmaxBackward", device));
  if (rows <= 0) return absl::OkStatus();
  SoftmaxBackwardKernel<<<WarpRowBlocks(rows), kThreads>>>(y, dy, dx, rows, cols);
  return CheckLaunch("SoftmaxBackward");
}

Status LayerNormForward(int device, const float* x, const float* gamma, const float* beta, float* y,
                        float* xhat, float* rstd, int64_t rows, int64_t d, double eps) {
  MLCORE_RETURN_IF_ERROR(UseDevice("LayerNormForward", device));
  if (rows <= 0) return absl::OkStatus();
  LayerNormForwardKernel<<<WarpRowBlocks(rows), kThreads>>>(x, gamma, beta, y, xhat, rstd, rows, d,
                                                            eps);
  return CheckLaunch("LayerNormForward");
}

Status LayerNormBackward(int device, const float* dy, const float* xhat, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                         int64_t d) {
  MLCORE_RETURN_IF_ERROR(UseDevice("LayerNormBackward", device));
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
  const cudaError_t err = cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width,
                                            static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, 0);
  return err == cudaSuccess ? absl::OkStatus() : CudaError("CopyRows", err);
}

Status AdamStep(int device, float* w, const float* g, float* m, float* v, int64_t n,
                const AdamArgs& args) {
  MLCORE_RETURN_IF_ERROR(UseDevice("AdamStep", device));
  AdamKernel<<<Blocks(n), kThreads>>>(w, g, m, v, n, args);
  return CheckLaunch("AdamStep");
}

Status SgdStep(int device, float* w, const float* g, float* v, int64_t n, float lr, float mu,
               float weight_decay, bool nesterov, bool first) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SgdStep", device));
  SgdKernel<<<Blocks(n), kThreads>>>(w, g, v, n, lr, mu, weight_decay, nesterov, first);
  return CheckLaunch("SgdStep");
}

StatusOr<double> SumOfSquares(int device, const float* x, int64_t n) {
  MLCORE_RETURN_IF_ERROR(UseDevice("SumOfSquares", device));
  double* out = nullptr;
  cudaError_t err = cudaMalloc(&out, sizeof(double));
  if (err != cudaSuccess) return CudaError("SumOfSquares", err);
  double result = 0.0;
  err = cudaMemset(out, 0, sizeof(double));
  if (err == cudaSuccess) {
    SumOfSquaresKernel<<<std::min(Blocks(n), 1024), kThreads>>>(x, n, out);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(&result, out, sizeof(double), cudaMemcpyDeviceToHost);
  cudaFree(out);
  if (err != cudaSuccess) return CudaError("SumOfSquares", err);
  return result;
}

Status Scale(int device, float* x, int64_t n, float s) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Scale", device));
  ScaleKernel<<<Blocks(n), kThreads>>>(x, n, s);
  return CheckLaunch("Scale");
}

}  // namespace mlcore::nn::cuda

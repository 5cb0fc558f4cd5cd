// CUDA twins of Conv2d (cuDNN when linked, see cudnn_conv.cu; otherwise im2col / col2im kernels
// around strided-batched cuBLAS GEMMs, one batch of GEMMs per channel group),
// BatchNorm (one block per channel, sums in double like the CPU) and Embedding. See
// src/nn/conv_cuda.h for the contracts.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cuda_common.cuh"
#include "nn/conv_cuda.h"
#include "nn/cuda_kernels.h"
#include "nn/cuda_scratch.h"
#include "nn/cudnn_conv.h"

namespace mlcore::nn::internal {
namespace {

using cuda::Blocks;
using cuda::BlockSum;
using cuda::Check;
using cuda::CheckBlas;
using cuda::CheckLaunch;
using cuda::kThreads;
using cuda::UseDevice;

// cols[n, (c, kh, kw), (oh, ow)], one thread per entry.
__global__ void Im2ColKernel(ConvCudaArgs a, const float* x, float* cols) {
  const int64_t kk = a.kernel_h * a.kernel_w, p = a.out_height * a.out_width;
  const int64_t rows = a.channels * kk;
  MLCORE_GRID_STRIDE(i, a.batch * rows * p) {
    const int64_t col = i % p, r = (i / p) % rows, n = i / (p * rows);
    const int64_t c = r / kk, kh = (r % kk) / a.kernel_w, kw = r % a.kernel_w;
    const int64_t ih = (col / a.out_width) * a.stride_h - a.pad_h + kh * a.dil_h;
    const int64_t iw = (col % a.out_width) * a.stride_w - a.pad_w + kw * a.dil_w;
    const bool inside = ih >= 0 && ih < a.height && iw >= 0 && iw < a.width;
    cols[i] = inside ? x[((n * a.channels + c) * a.height + ih) * a.width + iw] : 0.0f;
  }
}

// dx[n, c, ih, iw] = sum of the column entries Im2Col read from there (a gather: no atomics).
__global__ void Col2ImKernel(ConvCudaArgs a, const float* dcols, float* dx) {
  const int64_t kk = a.kernel_h * a.kernel_w, p = a.out_height * a.out_width;
  const int64_t rows = a.channels * kk;
  MLCORE_GRID_STRIDE(i, a.batch * a.channels * a.height * a.width) {
    const int64_t iw = i % a.width, ih = (i / a.width) % a.height;
    const int64_t c = (i / (a.width * a.height)) % a.channels;
    const int64_t n = i / (a.width * a.height * a.channels);
    float s = 0.0f;
    for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
      const int64_t th = ih + a.pad_h - kh * a.dil_h;
      if (th < 0 || th % a.stride_h != 0 || th / a.stride_h >= a.out_height) continue;
      for (int64_t kw = 0; kw < a.kernel_w; ++kw) {
        const int64_t tw = iw + a.pad_w - kw * a.dil_w;
        if (tw < 0 || tw % a.stride_w != 0 || tw / a.stride_w >= a.out_width) continue;
        const int64_t r = (c * a.kernel_h + kh) * a.kernel_w + kw;
        s += dcols[(n * rows + r) * p + (th / a.stride_h) * a.out_width + tw / a.stride_w];
      }
    }
    dx[i] = s;
  }
}

__global__ void FillBiasKernel(const float* bias, float* y, int64_t filters, int64_t p,
                               int64_t total) {
  MLCORE_GRID_STRIDE(i, total) { y[i] = bias[(i / p) % filters]; }
}

// db[f] = sum over n, p of dy[n, f, p]; one block per filter, a fixed reduction order.
__global__ void BiasGradKernel(const float* dy, float* db, int64_t batch, int64_t filters,
                               int64_t p) {
  __shared__ double part[kThreads];
  const int64_t f = blockIdx.x;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < batch * p; i += blockDim.x) {
    s += dy[((i / p) * filters + f) * p + i % p];
  }
  s = BlockSum(s, part);
  if (threadIdx.x == 0) db[f] = static_cast<float>(s);
}

// One block per channel c; value k of the channel is x[(k / S * C + c) * S + k % S].
__global__ void BatchNormTrainKernel(BatchNormCudaArgs a, const float* x, const float* gamma,
                                     const float* beta, float* rmean, float* rvar, float* y,
                                     float* xhat, float* rstd) {
  __shared__ double part[kThreads];
  const int64_t c = blockIdx.x, s = a.spatial, m = a.batch * s;
  auto at = [&](int64_t k) { return ((k / s) * a.channels + c) * s + k % s; };
  double sum = 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) sum += x[at(k)];
  const double mean = BlockSum(sum, part) / static_cast<double>(m);
  double ss = 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const double d = x[at(k)] - mean;
    ss += d * d;
  }
  ss = BlockSum(ss, part);
  const double var = ss / static_cast<double>(m);
  const float r = static_cast<float>(1.0 / sqrt(var + static_cast<double>(a.eps)));
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = at(k);
    const float h = static_cast<float>(x[o] - mean) * r;
    xhat[o] = h;
    y[o] = h * gamma[c] + beta[c];
  }
  if (threadIdx.x == 0) {
    rstd[c] = r;
    const double mom = a.momentum;
    rmean[c] = static_cast<float>((1.0 - mom) * rmean[c] + mom * mean);
    rvar[c] = static_cast<float>((1.0 - mom) * rvar[c] + mom * ss / static_cast<double>(m - 1));
  }
}

__global__ void BatchNormInferKernel(BatchNormCudaArgs a, const float* x, const float* gamma,
                                     const float* beta, const float* rmean, const float* rvar,
                                     float* y) {
  MLCORE_GRID_STRIDE(i, a.batch * a.channels * a.spatial) {
    const int64_t c = (i / a.spatial) % a.channels;
    const float scale = gamma[c] / sqrtf(rvar[c] + a.eps);
    y[i] = x[i] * scale + (beta[c] - rmean[c] * scale);
  }
}

__global__ void BatchNormBackwardKernel(BatchNormCudaArgs a, const float* dy, const float* xhat,
                                        const float* rstd, const float* gamma, float* dgamma,
                                        float* dbeta, float* dx) {
  __shared__ double part[kThreads];
  const int64_t c = blockIdx.x, s = a.spatial, m = a.batch * s;
  auto at = [&](int64_t k) { return ((k / s) * a.channels + c) * s + k % s; };
  double sdy = 0.0, sdyh = 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = at(k);
    sdy += dy[o];
    sdyh += static_cast<double>(dy[o]) * xhat[o];
  }
  sdy = BlockSum(sdy, part);
  sdyh = BlockSum(sdyh, part);
  if (threadIdx.x == 0) {
    dgamma[c] = static_cast<float>(sdyh);
    dbeta[c] = static_cast<float>(sdy);
  }
  if (dx == nullptr) return;
  const float scale = gamma[c] * rstd[c];
  const float mdy = static_cast<float>(sdy / m), mdyh = static_cast<float>(sdyh / m);
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = at(k);
    dx[o] = scale * (dy[o] - mdy - xhat[o] * mdyh);
  }
}

__device__ int64_t ReadIndex(const void* indices, IndexKind kind, int64_t i) {
  switch (kind) {
    case IndexKind::kInt32:
      return static_cast<const int32_t*>(indices)[i];
    case IndexKind::kInt64:
      return static_cast<const int64_t*>(indices)[i];
    default:
      return static_cast<int64_t>(static_cast<const float*>(indices)[i]);
  }
}

__global__ void EmbeddingForwardKernel(const void* indices, IndexKind kind, int64_t count,
                                       const float* table, int64_t dim, float* out) {
  MLCORE_GRID_STRIDE(i, count * dim) {
    out[i] = table[ReadIndex(indices, kind, i / dim) * dim + i % dim];
  }
}

__global__ void EmbeddingBackwardKernel(const void* indices, IndexKind kind, int64_t count,
                                        const float* dy, int64_t dim, float* dtable) {
  MLCORE_GRID_STRIDE(i, count * dim) {
    atomicAdd(dtable + ReadIndex(indices, kind, i / dim) * dim + i % dim, dy[i]);
  }
}

}  // namespace

Status ConvFillBias(int device, const float* bias, float* y, int64_t batch, int64_t filters,
                    int64_t p) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Conv2d bias", device));
  if (batch * filters * p <= 0) return absl::OkStatus();
  FillBiasKernel<<<Blocks(batch * filters * p), kThreads>>>(bias, y, filters, p,
                                                            batch * filters * p);
  return CheckLaunch("Conv2d bias");
}

Status ConvBiasGrad(int device, const float* dy, float* db, int64_t batch, int64_t filters,
                    int64_t p) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Conv2d bias gradient", device));
  if (filters <= 0) return absl::OkStatus();  // one block per filter; batch == 0 writes zeros
  BiasGradKernel<<<static_cast<unsigned>(filters), kThreads>>>(dy, db, batch, filters, p);
  return CheckLaunch("Conv2d bias gradient");
}

namespace {

// In bf16 mode a rounded copy of w in `store`; w itself otherwise.
StatusOr<const float*> RoundedWeights(const ConvCudaArgs& a, const float* w, CudaScratch& store) {
  if (!a.bf16) return w;
  const int64_t n = a.filters * a.ColRows() / a.groups;
  MLCORE_RETURN_IF_ERROR(store.Allocate(a.device, sizeof(float) * n));
  MLCORE_RETURN_IF_ERROR(nn::cuda::RoundToBf16(a.device, w, store.get<float>(), n));
  return static_cast<const float*>(store.get<float>());
}

}  // namespace

namespace {

// Backward of a convolution with no outputs (batch 0, or a window larger than the padded input):
// nothing contributes, so every gradient is zero. Neither cuDNN (a 0-sized descriptor is
// CUDNN_STATUS_BAD_PARAM) nor the GEMM loop (which would leave dw unwritten) is asked.
Status ConvBackwardEmpty(const ConvCudaArgs& a, float* dw, float* db, float* dx) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Conv2d backward", a.device));
  const int64_t nw = a.filters * a.ColRows() / a.groups;
  MLCORE_RETURN_IF_ERROR(
      Check("Conv2d backward (zero dw)", cudaMemsetAsync(dw, 0, sizeof(float) * nw, 0)));
  if (db != nullptr) {
    MLCORE_RETURN_IF_ERROR(
        Check("Conv2d backward (zero db)", cudaMemsetAsync(db, 0, sizeof(float) * a.filters, 0)));
  }
  if (dx == nullptr) return absl::OkStatus();
  const size_t nx = sizeof(float) * a.batch * a.channels * a.height * a.width;
  return Check("Conv2d backward (zero dx)", cudaMemsetAsync(dx, 0, nx, 0));
}

bool NoOutputs(const ConvCudaArgs& a) { return a.batch == 0 || a.out_height * a.out_width == 0; }

// The im2col path's cuBLAS handle. Reached with the cuDNN backend only in a build without cuDNN
// (with it, the callers hand that backend to cudnn_conv.cu first).
StatusOr<cublasHandle_t> Im2colHandle(const ConvCudaArgs& a) {
  if (a.backend == ConvBackend::kCudnn) {
    return absl::FailedPreconditionError("nn::Conv2d: this build of mlcore has no cuDNN");
  }
  return cuda::CublasHandle("Conv2d", a.device);
}

}  // namespace

Status ConvForwardCuda(const ConvCudaArgs& a, const float* x, const float* w, const float* bias,
                       float* cols, float* y) {
  if (NoOutputs(a)) return UseDevice("Conv2d", a.device);  // y is empty
#if defined(MLCORE_HAVE_CUDNN)
  if (a.backend == ConvBackend::kCudnn) return CudnnConvForward(a, x, w, bias, y);
#endif
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, Im2colHandle(a));
  const int64_t rows = a.ColRows(), p = a.out_height * a.out_width;
  const int64_t rg = rows / a.groups, fg = a.filters / a.groups;
  Im2ColKernel<<<Blocks(a.batch * rows * p), kThreads>>>(a, x, cols);
  MLCORE_RETURN_IF_ERROR(CheckLaunch("Im2Col"));
  CudaScratch wstore;
  if (a.bf16) {
    // The columns are only ever GEMM operands (here and in Backward): round them in place.
    MLCORE_RETURN_IF_ERROR(nn::cuda::RoundToBf16(a.device, cols, cols, a.batch * rows * p));
  }
  MLCORE_ASSIGN_OR_RETURN(w, RoundedWeights(a, w, wstore));
  if (bias != nullptr) {
    MLCORE_RETURN_IF_ERROR(ConvFillBias(a.device, bias, y, a.batch, a.filters, p));
  }
  // Per group g, row-major y_n[g*Fg.., P] = W_g[Fg, Rg] * cols_n[g*Rg.., P], which is column-major
  // y_n^T = cols_n^T * W_g^T, batched over the samples.
  const float one = 1.0f, beta = bias != nullptr ? 1.0f : 0.0f;
  for (int64_t g = 0; g < a.groups; ++g) {
    MLCORE_RETURN_IF_ERROR(
        CheckBlas("Conv2d forward",
                  cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_N, p, fg, rg, &one,
                                            cols + g * rg * p, p, rows * p, w + g * fg * rg, rg, 0,
                                            &beta, y + g * fg * p, p, a.filters * p, a.batch)));
  }
  return absl::OkStatus();
}

Status ConvBackwardCuda(const ConvCudaArgs& a, const float* dy, const float* x, const float* w,
                        const float* cols, float* dw, float* db, float* scratch, float* dx) {
  if (NoOutputs(a)) return ConvBackwardEmpty(a, dw, db, dx);
#if defined(MLCORE_HAVE_CUDNN)
  if (a.backend == ConvBackend::kCudnn) return CudnnConvBackward(a, dy, x, w, dw, db, dx);
#endif
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, Im2colHandle(a));
  const int64_t rows = a.ColRows(), p = a.out_height * a.out_width;
  const int64_t rg = rows / a.groups, fg = a.filters / a.groups;
  if (db != nullptr) MLCORE_RETURN_IF_ERROR(ConvBiasGrad(a.device, dy, db, a.batch, a.filters, p));
  CudaScratch dystore, wstore;
  if (a.bf16) {
    const int64_t n = a.batch * a.filters * p;
    MLCORE_RETURN_IF_ERROR(dystore.Allocate(a.device, sizeof(float) * n));
    MLCORE_RETURN_IF_ERROR(nn::cuda::RoundToBf16(a.device, dy, dystore.get<float>(), n));
    dy = dystore.get<float>();
  }
  MLCORE_ASSIGN_OR_RETURN(w, RoundedWeights(a, w, wstore));
  const float one = 1.0f, zero = 0.0f;
  // Row-major dW_g[Fg, Rg] = sum_n dy_ng[Fg, P] * cols_ng^T, i.e. column-major
  // dW_g^T = cols_ng * dy_ng^T, batched over the groups (their strides are uniform).
  for (int64_t n = 0; n < a.batch; ++n) {
    MLCORE_RETURN_IF_ERROR(CheckBlas(
        "Conv2d kernel gradient",
        cublasSgemmStridedBatched(handle, CUBLAS_OP_T, CUBLAS_OP_N, rg, fg, p, &one,
                                  cols + n * rows * p, p, rg * p, dy + n * a.filters * p, p, fg * p,
                                  n == 0 ? &zero : &one, dw, rg, fg * rg, a.groups)));
  }
  if (dx == nullptr) return absl::OkStatus();
  // Row-major dcols_ng[Rg, P] = W_g^T * dy_ng, i.e. column-major dcols_ng^T = dy_ng^T * W_g.
  for (int64_t g = 0; g < a.groups; ++g) {
    MLCORE_RETURN_IF_ERROR(
        CheckBlas("Conv2d input gradient",
                  cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_T, p, rg, fg, &one,
                                            dy + g * fg * p, p, a.filters * p, w + g * fg * rg, rg,
                                            0, &zero, scratch + g * rg * p, p, rows * p, a.batch)));
  }
  Col2ImKernel<<<Blocks(a.batch * a.channels * a.height * a.width), kThreads>>>(a, scratch, dx);
  return CheckLaunch("Col2Im");
}

Status BatchNormTrainCuda(const BatchNormCudaArgs& a, const float* x, const float* gamma,
                          const float* beta, float* running_mean, float* running_var, float* y,
                          float* xhat, float* rstd) {
  MLCORE_RETURN_IF_ERROR(UseDevice("BatchNorm", a.device));
  if (a.channels <= 0) return absl::OkStatus();  // one block per channel
  BatchNormTrainKernel<<<static_cast<unsigned>(a.channels), kThreads>>>(
      a, x, gamma, beta, running_mean, running_var, y, xhat, rstd);
  return CheckLaunch("BatchNorm");
}

Status BatchNormInferCuda(const BatchNormCudaArgs& a, const float* x, const float* gamma,
                          const float* beta, const float* running_mean, const float* running_var,
                          float* y) {
  MLCORE_RETURN_IF_ERROR(UseDevice("BatchNorm inference", a.device));
  if (a.batch * a.channels * a.spatial <= 0) return absl::OkStatus();
  BatchNormInferKernel<<<Blocks(a.batch * a.channels * a.spatial), kThreads>>>(
      a, x, gamma, beta, running_mean, running_var, y);
  return CheckLaunch("BatchNorm inference");
}

Status BatchNormBackwardCuda(const BatchNormCudaArgs& a, const float* dy, const float* xhat,
                             const float* rstd, const float* gamma, float* dgamma, float* dbeta,
                             float* dx) {
  MLCORE_RETURN_IF_ERROR(UseDevice("BatchNorm backward", a.device));
  if (a.channels <= 0) return absl::OkStatus();
  BatchNormBackwardKernel<<<static_cast<unsigned>(a.channels), kThreads>>>(a, dy, xhat, rstd, gamma,
                                                                           dgamma, dbeta, dx);
  return CheckLaunch("BatchNorm backward");
}

Status EmbeddingForwardCuda(int device, const void* indices, IndexKind kind, int64_t count,
                            const float* table, int64_t dim, float* out) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Embedding", device));
  if (count * dim <= 0) return absl::OkStatus();
  EmbeddingForwardKernel<<<Blocks(count * dim), kThreads>>>(indices, kind, count, table, dim, out);
  return CheckLaunch("Embedding");
}

Status EmbeddingBackwardCuda(int device, const void* indices, IndexKind kind, int64_t count,
                             const float* dy, int64_t dim, int64_t vocab, float* dtable) {
  MLCORE_RETURN_IF_ERROR(UseDevice("Embedding backward", device));
  // Async on the legacy default stream: ordered before the kernel without stalling the host.
  MLCORE_RETURN_IF_ERROR(Check("Embedding backward (zero the table gradient)",
                               cudaMemsetAsync(dtable, 0, sizeof(float) * vocab * dim, 0)));
  if (count * dim <= 0) return absl::OkStatus();
  EmbeddingBackwardKernel<<<Blocks(count * dim), kThreads>>>(indices, kind, count, dy, dim, dtable);
  return CheckLaunch("Embedding backward");
}

}  // namespace mlcore::nn::internal

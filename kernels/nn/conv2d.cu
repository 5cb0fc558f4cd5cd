// CUDA twin of Conv2d (src/nn/conv2d.cc; rules in src/nn/conv2d.h): cuDNN when linked (see
// cudnn_conv.cu), otherwise im2col / col2im (im2col.cu) around strided-batched cuBLAS GEMMs, one
// batch of GEMMs per channel group; the bias filled and summed by the kernels here, which both
// backends use.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "../core/cuda_scratch.cuh"
#include "nn/bf16.h"
#include "nn/conv2d.h"
#include "nn/cudnn_conv.h"
#include "nn/im2col.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void FillBiasKernel(const float* bias, float* y, int64_t filters, int64_t p,
                               int64_t total) {
  MLCORE_GRID_STRIDE(i, total) { y[i] = bias[(i / p) % filters]; }
}

// db[f] = sum over n, p of dy[n, f, p]; one block per filter, a fixed reduction order.
__global__ void BiasGradKernel(const float* dy, float* db, int64_t batch, int64_t filters,
                               int64_t p) {
  __shared__ double part[cu::kThreads];
  const int64_t f = blockIdx.x;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < batch * p; i += blockDim.x) {
    s += dy[((i / p) * filters + f) * p + i % p];
  }
  s = cu::BlockSum(s, part);
  if (threadIdx.x == 0) db[f] = static_cast<float>(s);
}

}  // namespace

Status ConvFillBias(int device, const float* bias, float* y, int64_t batch, int64_t filters,
                    int64_t p) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Conv2d bias", device));
  if (batch * filters * p <= 0) return absl::OkStatus();
  FillBiasKernel<<<cu::Blocks(batch * filters * p), cu::kThreads>>>(bias, y, filters, p,
                                                                    batch * filters * p);
  return cu::CheckLaunch("Conv2d bias");
}

Status ConvBiasGrad(int device, const float* dy, float* db, int64_t batch, int64_t filters,
                    int64_t p) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Conv2d bias gradient", device));
  if (filters <= 0) return absl::OkStatus();  // one block per filter; batch == 0 writes zeros
  BiasGradKernel<<<static_cast<unsigned>(filters), cu::kThreads>>>(dy, db, batch, filters, p);
  return cu::CheckLaunch("Conv2d bias gradient");
}

namespace {

// In bf16 mode a rounded copy of w in `store`; w itself otherwise.
StatusOr<const float*> RoundedWeights(const ConvArgs& a, const float* w, cu::CudaScratch& store) {
  if (!a.bf16) return w;
  const int64_t n = a.filters * a.ColRows() / a.groups;
  MLCORE_RETURN_IF_ERROR(store.Allocate(a.device, sizeof(float) * n));
  MLCORE_RETURN_IF_ERROR(RoundToBf16(a.device, w, store.get<float>(), n));
  return static_cast<const float*>(store.get<float>());
}

// Backward of a convolution with no outputs (batch 0, or a window larger than the padded input):
// nothing contributes, so every gradient is zero. Neither cuDNN (a 0-sized descriptor is
// CUDNN_STATUS_BAD_PARAM) nor the GEMM loop (which would leave dw unwritten) is asked.
Status ConvBackwardEmpty(const ConvArgs& a, float* dw, float* db, float* dx) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Conv2d backward", a.device));
  const int64_t nw = a.filters * a.ColRows() / a.groups;
  MLCORE_RETURN_IF_ERROR(
      cu::Check("Conv2d backward (zero dw)", cudaMemsetAsync(dw, 0, sizeof(float) * nw, 0)));
  if (db != nullptr) {
    MLCORE_RETURN_IF_ERROR(cu::Check("Conv2d backward (zero db)",
                                     cudaMemsetAsync(db, 0, sizeof(float) * a.filters, 0)));
  }
  if (dx == nullptr) return absl::OkStatus();
  const size_t nx = sizeof(float) * a.batch * a.channels * a.height * a.width;
  return cu::Check("Conv2d backward (zero dx)", cudaMemsetAsync(dx, 0, nx, 0));
}

bool NoOutputs(const ConvArgs& a) { return a.batch == 0 || a.out_height * a.out_width == 0; }

// The im2col path's cuBLAS handle. Reached with the cuDNN backend only in a build without cuDNN
// (with it, the callers hand that backend to cudnn_conv.cu first).
StatusOr<cublasHandle_t> Im2colHandle(const ConvArgs& a) {
  if (a.backend == ConvBackend::kCudnn) {
    return absl::FailedPreconditionError("nn::Conv2d: this build of mlcore has no cuDNN");
  }
  return cu::CublasHandle("Conv2d", a.device);
}

}  // namespace

Status ConvForward(const ConvArgs& a, const float* x, const float* w, const float* bias,
                   float* cols, float* y) {
  if (NoOutputs(a)) return cu::UseDevice("Conv2d", a.device);  // y is empty
#if defined(MLCORE_HAVE_CUDNN)
  if (a.backend == ConvBackend::kCudnn) return CudnnConvForward(a, x, w, bias, y);
#endif
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, Im2colHandle(a));
  const int64_t rows = a.ColRows(), p = a.out_height * a.out_width;
  const int64_t rg = rows / a.groups, fg = a.filters / a.groups;
  MLCORE_RETURN_IF_ERROR(Im2Col(a, x, cols));
  cu::CudaScratch wstore;
  if (a.bf16) {
    // The columns are only ever GEMM operands (here and in Backward): round them in place.
    MLCORE_RETURN_IF_ERROR(RoundToBf16(a.device, cols, cols, a.batch * rows * p));
  }
  MLCORE_ASSIGN_OR_RETURN(w, RoundedWeights(a, w, wstore));
  if (bias != nullptr) {
    MLCORE_RETURN_IF_ERROR(ConvFillBias(a.device, bias, y, a.batch, a.filters, p));
  }
  // Per group g, row-major y_n[g*Fg.., P] = W_g[Fg, Rg] * cols_n[g*Rg.., P], which is column-major
  // y_n^T = cols_n^T * W_g^T, batched over the samples.
  const float one = 1.0f, beta = bias != nullptr ? 1.0f : 0.0f;
  for (int64_t g = 0; g < a.groups; ++g) {
    MLCORE_RETURN_IF_ERROR(cu::CheckBlas(
        "Conv2d forward",
        cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_N, p, fg, rg, &one,
                                  cols + g * rg * p, p, rows * p, w + g * fg * rg, rg, 0, &beta,
                                  y + g * fg * p, p, a.filters * p, a.batch)));
  }
  return absl::OkStatus();
}

Status ConvBackward(const ConvArgs& a, const float* dy, const float* x, const float* w,
                    const float* cols, float* dw, float* db, float* scratch, float* dx) {
  if (NoOutputs(a)) return ConvBackwardEmpty(a, dw, db, dx);
#if defined(MLCORE_HAVE_CUDNN)
  if (a.backend == ConvBackend::kCudnn) return CudnnConvBackward(a, dy, x, w, dw, db, dx);
#endif
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, Im2colHandle(a));
  const int64_t rows = a.ColRows(), p = a.out_height * a.out_width;
  const int64_t rg = rows / a.groups, fg = a.filters / a.groups;
  if (db != nullptr) MLCORE_RETURN_IF_ERROR(ConvBiasGrad(a.device, dy, db, a.batch, a.filters, p));
  cu::CudaScratch dystore, wstore;
  if (a.bf16) {
    const int64_t n = a.batch * a.filters * p;
    MLCORE_RETURN_IF_ERROR(dystore.Allocate(a.device, sizeof(float) * n));
    MLCORE_RETURN_IF_ERROR(RoundToBf16(a.device, dy, dystore.get<float>(), n));
    dy = dystore.get<float>();
  }
  MLCORE_ASSIGN_OR_RETURN(w, RoundedWeights(a, w, wstore));
  const float one = 1.0f, zero = 0.0f;
  // Row-major dW_g[Fg, Rg] = sum_n dy_ng[Fg, P] * cols_ng^T, i.e. column-major
  // dW_g^T = cols_ng * dy_ng^T, batched over the groups (their strides are uniform).
  for (int64_t n = 0; n < a.batch; ++n) {
    MLCORE_RETURN_IF_ERROR(cu::CheckBlas(
        "Conv2d kernel gradient",
        cublasSgemmStridedBatched(handle, CUBLAS_OP_T, CUBLAS_OP_N, rg, fg, p, &one,
                                  cols + n * rows * p, p, rg * p, dy + n * a.filters * p, p, fg * p,
                                  n == 0 ? &zero : &one, dw, rg, fg * rg, a.groups)));
  }
  if (dx == nullptr) return absl::OkStatus();
  // Row-major dcols_ng[Rg, P] = W_g^T * dy_ng, i.e. column-major dcols_ng^T = dy_ng^T * W_g.
  for (int64_t g = 0; g < a.groups; ++g) {
    MLCORE_RETURN_IF_ERROR(cu::CheckBlas(
        "Conv2d input gradient",
        cublasSgemmStridedBatched(handle, CUBLAS_OP_N, CUBLAS_OP_T, p, rg, fg, &one,
                                  dy + g * fg * p, p, a.filters * p, w + g * fg * rg, rg, 0, &zero,
                                  scratch + g * rg * p, p, rows * p, a.batch)));
  }
  return Col2Im(a, scratch, dx);
}

}  // namespace mlcore::nn::cuda

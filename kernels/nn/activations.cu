// CUDA twins of the activation layers and Softmax (src/nn/activations.cc; rules in
// src/nn/activations.h): elementwise grid-stride loops, and Softmax with one warp per row and
// shuffles for its max and sums.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/activations.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

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

__global__ void SoftmaxForwardKernel(const float* x, float* y, int64_t rows, int64_t cols) {
  const auto [row, lane] = cu::ThisWarpRow();
  if (row >= rows) return;
  const float* xr = x + row * cols;
  float* yr = y + row * cols;
  float m = -INFINITY;
  for (int64_t j = lane; j < cols; j += 32) m = fmaxf(m, xr[j]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  double sum = 0.0;
  for (int64_t j = lane; j < cols; j += 32) sum += expf(xr[j] - m);
  const float inv = static_cast<float>(1.0 / cu::WarpSum(sum));
  for (int64_t j = lane; j < cols; j += 32) yr[j] = expf(xr[j] - m) * inv;
}

__global__ void SoftmaxBackwardKernel(const float* y, const float* dy, float* dx, int64_t rows,
                                      int64_t cols) {
  const auto [row, lane] = cu::ThisWarpRow();
  if (row >= rows) return;
  const int64_t o = row * cols;
  double dot = 0.0;
  for (int64_t j = lane; j < cols; j += 32) dot += static_cast<double>(dy[o + j]) * y[o + j];
  const float d = static_cast<float>(cu::WarpSum(dot));
  for (int64_t j = lane; j < cols; j += 32) dx[o + j] = y[o + j] * (dy[o + j] - d);
}

}  // namespace

Status ActivationForward(int device, Activation kind, const float* x, float* y, int64_t n) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("ActivationForward", device));
  if (n <= 0) return absl::OkStatus();
  ActForwardKernel<<<cu::Blocks(n), cu::kThreads>>>(kind, x, y, n);
  return cu::CheckLaunch("ActivationForward");
}

Status ActivationBackward(int device, Activation kind, const float* saved, const float* dy,
                          float* dx, int64_t n) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("ActivationBackward", device));
  if (n <= 0) return absl::OkStatus();
  ActBackwardKernel<<<cu::Blocks(n), cu::kThreads>>>(kind, saved, dy, dx, n);
  return cu::CheckLaunch("ActivationBackward");
}

Status SoftmaxForward(int device, const float* x, float* y, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("SoftmaxForward", device));
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  SoftmaxForwardKernel<<<cu::WarpRowBlocks(rows), cu::kThreads>>>(x, y, rows, cols);
  return cu::CheckLaunch("SoftmaxForward");
}

Status SoftmaxBackward(int device, const float* y, const float* dy, float* dx, int64_t rows,
                       int64_t cols) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("SoftmaxBackward", device));
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  SoftmaxBackwardKernel<<<cu::WarpRowBlocks(rows), cu::kThreads>>>(y, dy, dx, rows, cols);
  return cu::CheckLaunch("SoftmaxBackward");
}

}  // namespace mlcore::nn::cuda

// CUDA twin of LayerNorm (src/nn/layer_norm.cc; rules in src/nn/layer_norm.h): one warp per row
// with its statistics in double, and the parameter gradients one thread per column.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/layer_norm.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void LayerNormForwardKernel(const float* x, const float* gamma, const float* beta,
                                       float* y, float* xhat, float* rstd, int64_t rows, int64_t d,
                                       double eps) {
  const auto [row, lane] = cu::ThisWarpRow();
  if (row >= rows) return;
  const int64_t o = row * d;
  double s = 0.0;
  for (int64_t j = lane; j < d; j += 32) s += x[o + j];
  const double mean = cu::WarpSum(s) / static_cast<double>(d);
  double ss = 0.0;
  for (int64_t j = lane; j < d; j += 32) {
    const double c = x[o + j] - mean;
    ss += c * c;
  }
  const double var = cu::WarpSum(ss) / static_cast<double>(d);
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
  const auto [row, lane] = cu::ThisWarpRow();
  if (row >= rows) return;
  const int64_t o = row * d;
  double s = 0.0, sh = 0.0;
  for (int64_t j = lane; j < d; j += 32) {
    const double dh = static_cast<double>(dy[o + j]) * gamma[j];
    s += dh;
    sh += dh * xhat[o + j];
  }
  const double mean_dh = cu::WarpSum(s) / static_cast<double>(d);
  const double mean_dh_h = cu::WarpSum(sh) / static_cast<double>(d);
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

}  // namespace

Status LayerNormForward(int device, const float* x, const float* gamma, const float* beta, float* y,
                        float* xhat, float* rstd, int64_t rows, int64_t d, double eps) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("LayerNormForward", device));
  if (rows <= 0 || d <= 0) return absl::OkStatus();
  LayerNormForwardKernel<<<cu::WarpRowBlocks(rows), cu::kThreads>>>(x, gamma, beta, y, xhat, rstd,
                                                                    rows, d, eps);
  return cu::CheckLaunch("LayerNormForward");
}

Status LayerNormBackward(int device, const float* dy, const float* xhat, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                         int64_t d) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("LayerNormBackward", device));
  if (d <= 0) return absl::OkStatus();
  LayerNormParamGradKernel<<<cu::Blocks(d), cu::kThreads>>>(dy, xhat, dgamma, dbeta, rows, d);
  MLCORE_RETURN_IF_ERROR(cu::CheckLaunch("LayerNorm parameter gradients"));
  if (rows <= 0 || dx == nullptr) return absl::OkStatus();
  LayerNormBackwardKernel<<<cu::WarpRowBlocks(rows), cu::kThreads>>>(dy, xhat, rstd, gamma, dx,
                                                                     rows, d);
  return cu::CheckLaunch("LayerNormBackward");
}

}  // namespace mlcore::nn::cuda

// CUDA twin of BatchNorm (src/nn/batch_norm.cc; rules in src/nn/batch_norm.h): training and
// backward with one block per channel and its sums in double, inference one thread per element.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/batch_norm.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

// One block per channel c; value k of the channel is x[(k / S * C + c) * S + k % S].
__global__ void BatchNormTrainKernel(BatchNormArgs a, const float* x, const float* gamma,
                                     const float* beta, float* rmean, float* rvar, float* y,
                                     float* xhat, float* rstd) {
  __shared__ double part[cu::kThreads];
  const int64_t c = blockIdx.x, s = a.spatial, m = a.batch * s;
  auto at = [&](int64_t k) { return ((k / s) * a.channels + c) * s + k % s; };
  double sum = 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) sum += x[at(k)];
  const double mean = cu::BlockSum(sum, part) / static_cast<double>(m);
  double ss = 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const double d = x[at(k)] - mean;
    ss += d * d;
  }
  ss = cu::BlockSum(ss, part);
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

__global__ void BatchNormInferKernel(BatchNormArgs a, const float* x, const float* gamma,
                                     const float* beta, const float* rmean, const float* rvar,
                                     float* y) {
  MLCORE_GRID_STRIDE(i, a.batch * a.channels * a.spatial) {
    const int64_t c = (i / a.spatial) % a.channels;
    const float scale = gamma[c] / sqrtf(rvar[c] + a.eps);
    y[i] = x[i] * scale + (beta[c] - rmean[c] * scale);
  }
}

__global__ void BatchNormBackwardKernel(BatchNormArgs a, const float* dy, const float* xhat,
                                        const float* rstd, const float* gamma, float* dgamma,
                                        float* dbeta, float* dx) {
  __shared__ double part[cu::kThreads];
  const int64_t c = blockIdx.x, s = a.spatial, m = a.batch * s;
  auto at = [&](int64_t k) { return ((k / s) * a.channels + c) * s + k % s; };
  double sdy = 0.0, sdyh = 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = at(k);
    sdy += dy[o];
    sdyh += static_cast<double>(dy[o]) * xhat[o];
  }
  sdy = cu::BlockSum(sdy, part);
  sdyh = cu::BlockSum(sdyh, part);
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

}  // namespace

Status BatchNormTrain(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                      float* running_mean, float* running_var, float* y, float* xhat, float* rstd) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("BatchNorm", a.device));
  if (a.channels <= 0) return absl::OkStatus();  // one block per channel
  BatchNormTrainKernel<<<static_cast<unsigned>(a.channels), cu::kThreads>>>(
      a, x, gamma, beta, running_mean, running_var, y, xhat, rstd);
  return cu::CheckLaunch("BatchNorm");
}

Status BatchNormInfer(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                      const float* running_mean, const float* running_var, float* y) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("BatchNorm inference", a.device));
  if (a.batch * a.channels * a.spatial <= 0) return absl::OkStatus();
  BatchNormInferKernel<<<cu::Blocks(a.batch * a.channels * a.spatial), cu::kThreads>>>(
      a, x, gamma, beta, running_mean, running_var, y);
  return cu::CheckLaunch("BatchNorm inference");
}

Status BatchNormBackward(const BatchNormArgs& a, const float* dy, const float* xhat,
                         const float* rstd, const float* gamma, float* dgamma, float* dbeta,
                         float* dx) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("BatchNorm backward", a.device));
  if (a.channels <= 0) return absl::OkStatus();
  BatchNormBackwardKernel<<<static_cast<unsigned>(a.channels), cu::kThreads>>>(
      a, dy, xhat, rstd, gamma, dgamma, dbeta, dx);
  return cu::CheckLaunch("BatchNorm backward");
}

}  // namespace mlcore::nn::cuda

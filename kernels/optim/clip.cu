// CUDA twins of gradient-norm clipping (src/optim/clip.cc; rules in src/optim/clip.h): the sum of
// squares reduced per block in double, then one atomic per block; the scale a grid-stride loop.
#include <cuda_runtime.h>

#include <algorithm>

#include "../core/cuda_common.cuh"
#include "../core/cuda_scratch.cuh"
#include "optim/clip.h"

namespace mlcore::optim::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void SumOfSquaresKernel(const float* x, int64_t n, double* out) {
  __shared__ double partial[cu::kThreads];
  double s = 0.0;
  MLCORE_GRID_STRIDE(i, n) { s += static_cast<double>(x[i]) * x[i]; }
  s = cu::BlockSum(s, partial);
  // One atomic per block: the blocks' order varies, so the last bits of the total may too.
  if (threadIdx.x == 0) atomicAdd(out, s);
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  MLCORE_GRID_STRIDE(i, n) { x[i] *= s; }
}

}  // namespace

StatusOr<double> SumOfSquares(int device, const float* x, int64_t n) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("SumOfSquares", device));
  if (n <= 0) return 0.0;
  // The caching allocator's block, not cudaMalloc/cudaFree: cudaFree would synchronise the
  // whole device on every call of a clipped training step.
  cu::CudaScratch out;
  MLCORE_RETURN_IF_ERROR(out.Allocate(device, sizeof(double)));
  MLCORE_RETURN_IF_ERROR(
      cu::Check("SumOfSquares", cudaMemsetAsync(out.get(), 0, sizeof(double), 0)));
  SumOfSquaresKernel<<<std::min(cu::Blocks(n), 1024), cu::kThreads>>>(x, n, out.get<double>());
  MLCORE_RETURN_IF_ERROR(cu::CheckLaunch("SumOfSquares"));
  double result = 0.0;
  // Synchronous copy on the legacy default stream: waits for the kernel.
  MLCORE_RETURN_IF_ERROR(
      cu::Check("SumOfSquares result",
                cudaMemcpy(&result, out.get(), sizeof(double), cudaMemcpyDeviceToHost)));
  return result;
}

Status Scale(int device, float* x, int64_t n, float s) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Scale", device));
  if (n <= 0) return absl::OkStatus();
  ScaleKernel<<<cu::Blocks(n), cu::kThreads>>>(x, n, s);
  return cu::CheckLaunch("Scale");
}

}  // namespace mlcore::optim::cuda

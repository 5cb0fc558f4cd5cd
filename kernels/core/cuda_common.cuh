// What every nn and optim CUDA twin needs around its kernels: the launch shape, turning CUDA and
// cuBLAS errors into Status with the operation's name ("nn::<op> (CUDA): ...", the prefix the
// twins have always reported), making a device current, and the one cuBLAS handle per device
// (created on first use, on the legacy default stream that Tensor copies and the caching
// allocator also use; defined in cuda_common.cu). Included by kernels/{nn,optim}/*.cu only
// (nvcc); each twin names this namespace by the alias `cu` (`cu::Blocks(n)`), one line instead
// of a using-declaration per helper.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "mlcore/core/status.h"

namespace mlcore::cuda {

inline constexpr int kThreads = 256;
inline constexpr int kMaxDevices = 64;

// Threads of a grid-stride loop over [0, n): one thread per element up to 65535 blocks.
#define MLCORE_GRID_STRIDE(i, n)                                            \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += int64_t{gridDim.x} * blockDim.x)

inline int Blocks(int64_t n) {
  return static_cast<int>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

inline Status CudaError(const char* op, cudaError_t err) {
  return absl::InternalError(
      absl::StrCat("nn::", op, " (CUDA): ", cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
}

inline Status Check(const char* op, cudaError_t err) {
  return err == cudaSuccess ? absl::OkStatus() : CudaError(op, err);
}

// The error of the last launch, if any (launch configuration, missing kernel image).
inline Status CheckLaunch(const char* op) { return Check(op, cudaGetLastError()); }

// Makes `device` current for the launches that follow.
inline Status UseDevice(const char* op, int device) { return Check(op, cudaSetDevice(device)); }

inline Status CheckBlas(const char* op, cublasStatus_t st) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("nn::", op, " (cuBLAS): ", cublasGetStatusString(st)));
}

// Block-wide sum of one double per thread in a fixed order (repeatable), for blocks of kThreads.
// Every thread of the block must call it (it holds barriers); each gets the total. `part` is
// __shared__ double[kThreads] of the caller, free again when this returns.
__device__ inline double BlockSum(double v, double* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) part[threadIdx.x] += part[threadIdx.x + stride];
    __syncthreads();
  }
  const double total = part[0];
  __syncthreads();
  return total;
}

// Sum of one double per lane over a full warp (every lane gets the total), in a fixed order.
__device__ inline double WarpSum(double v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Blocks of kThreads for one warp per row. Grid x may reach 2^31 - 1, so no clamp is needed
// below 2^34 rows.
inline unsigned WarpRowBlocks(int64_t rows) {
  constexpr int64_t kRowsPerBlock = kThreads / 32;
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

// In a kernel launched with WarpRowBlocks: the row this thread's warp owns (rows or more for
// the spare warps of the last block, which return) and the thread's lane within the warp.
struct WarpRow {
  int64_t row;
  int lane;
};
__device__ inline WarpRow ThisWarpRow() {
  return {blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32,
          static_cast<int>(threadIdx.x % 32)};
}

// The cuBLAS handle of `device`, made current; `op` names the caller in errors.
StatusOr<cublasHandle_t> CublasHandle(const char* op, int device);

}  // namespace mlcore::cuda

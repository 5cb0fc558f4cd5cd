// CUDA twin of Dense (src/nn/dense.cc; rules in src/nn/dense.h): GEMMs on cuBLAS with one handle
// per device (float32 with cublasSgemm, bf16 on tensor cores with cublasGemmEx), the bias as a
// broadcast and a column sum walked in row order.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "../core/cuda_scratch.cuh"
#include "absl/strings/str_cat.h"
#include "nn/bf16.h"
#include "nn/dense.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

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
  MLCORE_RETURN_IF_ERROR(cu::UseDevice(op, device));
  if (m == 0 || n == 0) return absl::OkStatus();
  if (k == 0) {
    if (accumulate) return absl::OkStatus();
    return cu::Check(op, cudaMemsetAsync(c, 0, sizeof(float) * m * n, 0));
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
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, cu::CublasHandle("Gemm", device));
  const ColumnMajor g = ToColumnMajor(trans_a, trans_b, m, n, k);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  return cu::CheckBlas("Gemm (cublasSgemm)",
                       cublasSgemm(handle, g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b, g.ldb, a,
                                   g.lda, &beta, c, g.ldc));
}

Status GemmBf16(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                GemmOperand a, GemmOperand b, float* c, bool accumulate) {
  bool done = false;
  MLCORE_RETURN_IF_ERROR(GemmPrologue("GemmBf16", device, m, n, k, c, accumulate, &done));
  if (done) return absl::OkStatus();
  MLCORE_ASSIGN_OR_RETURN(cublasHandle_t handle, cu::CublasHandle("GemmBf16", device));
  // One scratch block for the operands that still need converting; B starts 256-byte aligned,
  // like A, so that cuBLAS can use its vectorised tensor-core kernels for both.
  const int64_t a_elems = a.bits ? 0 : (m * k + 127) / 128 * 128;
  const int64_t b_elems = b.bits ? 0 : k * n;
  cu::CudaScratch store;
  if (a_elems + b_elems > 0) {
    MLCORE_RETURN_IF_ERROR(store.Allocate(device, sizeof(uint16_t) * (a_elems + b_elems)));
  }
  // The conversions are bf16.cu's ToBf16, queued before the GEMM on the same stream.
  const uint16_t* a16 = a.bits;
  const uint16_t* b16 = b.bits;
  if (a16 == nullptr) {
    MLCORE_RETURN_IF_ERROR(ToBf16(device, a.values, store.get<uint16_t>(), m * k));
    a16 = store.get<uint16_t>();
  }
  if (b16 == nullptr) {
    MLCORE_RETURN_IF_ERROR(ToBf16(device, b.values, store.get<uint16_t>() + a_elems, k * n));
    b16 = store.get<uint16_t>() + a_elems;
  }
  const ColumnMajor g = ToColumnMajor(trans_a, trans_b, m, n, k);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  return cu::CheckBlas("GemmBf16 (cublasGemmEx)",
                       cublasGemmEx(handle, g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b16, CUDA_R_16BF,
                                    g.ldb, a16, CUDA_R_16BF, g.lda, &beta, c, CUDA_R_32F, g.ldc,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

Status BroadcastRows(int device, const float* bias, float* y, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("BroadcastRows", device));
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  BroadcastRowsKernel<<<cu::Blocks(rows * cols), cu::kThreads>>>(bias, y, rows, cols);
  return cu::CheckLaunch("BroadcastRows");
}

Status SumRows(int device, const float* dy, float* db, int64_t rows, int64_t cols) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("SumRows", device));
  if (cols <= 0) return absl::OkStatus();
  SumRowsKernel<<<cu::Blocks(cols), cu::kThreads>>>(dy, db, rows, cols);  // rows == 0 writes zeros
  return cu::CheckLaunch("SumRows");
}

}  // namespace mlcore::nn::cuda

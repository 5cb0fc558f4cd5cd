// The cuBLAS entry points the kernels call, defined here as forwarders into libcublas, which is
// dlopen'ed on the first call (see cuda_libs.h). Compiled with hidden visibility (CMakeLists.txt):
// the kernels in libmlcore bind to these, nothing outside does. The list is what
// `nm -u` shows for kernels/*/*.o; a kernel calling a new cuBLAS function fails to link until its
// forwarder is added here.
#ifdef MLCORE_WITH_CUDA

#include <cublas_v2.h>

#include <atomic>

#include "cuda_libs.h"

namespace {

using mlcore::internal::CudaLibraries;
using mlcore::internal::ForwardOr;
using mlcore::internal::kCublas;

}  // namespace

// A forwarder returning CUBLAS_STATUS_NOT_INITIALIZED when cuBLAS cannot be loaded.
#define MLCORE_CUBLAS_FORWARD(name, params, ...)                                         \
  cublasStatus_t CUBLASWINAPI name params {                                              \
    static std::atomic<void*> slot{nullptr};                                             \
    return ForwardOr<cublasStatus_t params>(CudaLibraries(), kCublas, slot, #name,       \
                                            CUBLAS_STATUS_NOT_INITIALIZED, __VA_ARGS__); \
  }

extern "C" {

MLCORE_CUBLAS_FORWARD(cublasCreate_v2, (cublasHandle_t * handle), handle)

MLCORE_CUBLAS_FORWARD(cublasSgemm_v2,
                      (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                       int m, int n, int k, const float* alpha, const float* A, int lda,
                       const float* B, int ldb, const float* beta, float* C, int ldc),
                      handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)

MLCORE_CUBLAS_FORWARD(cublasSgemmStridedBatched,
                      (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                       int m, int n, int k, const float* alpha, const float* A, int lda,
                       long long int strideA, const float* B, int ldb, long long int strideB,
                       const float* beta, float* C, int ldc, long long int strideC, int batchCount),
                      handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB,
                      beta, C, ldc, strideC, batchCount)

MLCORE_CUBLAS_FORWARD(cublasGemmEx,
                      (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                       int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                       int lda, const void* B, cudaDataType Btype, int ldb, const void* beta,
                       void* C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                       cublasGemmAlgo_t algo),
                      handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
                      Ctype, ldc, computeType, algo)

// The kernels put this text in their errors, so when cuBLAS could not be loaded it is the
// loader's message (which library, where it looked) rather than "not initialized".
const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  static std::atomic<void*> slot{nullptr};
  if (status == CUBLAS_STATUS_NOT_INITIALIZED) {
    if (const char* why = CudaLibraries().FirstError(kCublas)) return why;
  }
  return ForwardOr<decltype(cublasGetStatusString)>(
      CudaLibraries(), kCublas, slot, "cublasGetStatusString",
      "cuBLAS error (cuBLAS could not be loaded)", status);
}

}  // extern "C"

#endif  // MLCORE_WITH_CUDA

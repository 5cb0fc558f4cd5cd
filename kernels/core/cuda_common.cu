// The per-device cuBLAS handles that the nn twins share (Dense's GEMMs, Conv2d's im2col path).
#include <cublas_v2.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "cuda_common.cuh"

namespace mlcore::cuda {

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
    MLCORE_RETURN_IF_ERROR(CheckBlas(op, cublasCreate(&h)));
    handles[device] = h;
  }
  return handles[device];
}

}  // namespace mlcore::cuda

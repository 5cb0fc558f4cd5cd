// CUDA device queries and raw memory. Every CUDA call is guarded: a build with CUDA on a machine
// with no driver (cudaErrorInsufficientDriver, cudaErrorNoDevice) must keep working on the CPU.
#include <cstring>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "cuda_internal.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/logging.h"
#include "strings.h"

#ifdef MLCORE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlcore {
namespace {

struct Probe {
  int count = 0;
  std::string reason;
};

const Probe& GetProbe() {
  static const Probe probe = [] {
    Probe p;
#ifdef MLCORE_WITH_CUDA
    cudaError_t err = cudaGetDeviceCount(&p.count);
    if (err != cudaSuccess) {
      p.count = 0;
      p.reason = absl::StrCat("cudaGetDeviceCount failed: ", cudaGetErrorString(err), " (",
                              cudaGetErrorName(err), ")");
      cudaGetLastError();  // clear the sticky error so later calls start clean
    } else if (p.count == 0) {
      p.reason = "the CUDA driver reports no devices";
    }
#else
    p.reason = "mlcore was built without CUDA (MLCORE_WITH_CUDA=OFF or nvcc not found)";
#endif
    if (!p.reason.empty()) {
      MLCORE_LOG(Info) << "CUDA unavailable: " << p.reason;
    }
    return p;
  }();
  return probe;
}

#ifdef MLCORE_WITH_CUDA
Status FromCuda(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();
  std::string message = absl::StrCat(internal::AV(what), ": ", cudaGetErrorString(err));
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}
#endif

}  // namespace

namespace cuda {

bool IsAvailable() { return GetProbe().count > 0; }
int DeviceCount() { return GetProbe().count; }
std::string UnavailableReason() { return GetProbe().reason; }

StatusOr<DeviceProperties> GetDeviceProperties(int index) {
  MLCORE_RETURN_IF_ERROR(internal::CheckCudaDevice(Device::CUDA(index)));
  DeviceProperties props;
  props.index = index;
#ifdef MLCORE_WITH_CUDA
  cudaDeviceProp p;
  MLCORE_RETURN_IF_ERROR(FromCuda(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties"));
  props.name = p.name;
  props.compute_capability_major = p.major;
  props.compute_capability_minor = p.minor;
  props.multiprocessor_count = p.multiProcessorCount;
  props.total_memory = p.totalGlobalMem;
  int previous = 0;
  cudaGetDevice(&previous);
  cudaSetDevice(index);
  size_t free_bytes = 0, total_bytes = 0;
  Status st = FromCuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  cudaSetDevice(previous);
  MLCORE_RETURN_IF_ERROR(st);
  props.free_memory = free_bytes;
#endif
  return props;
}

Status Synchronize(int index) {
  MLCORE_RETURN_IF_ERROR(internal::CheckCudaDevice(Device::CUDA(index)));
#ifdef MLCORE_WITH_CUDA
  int previous = 0;
  cudaGetDevice(&previous);
  cudaSetDevice(index);
  Status st = FromCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  cudaSetDevice(previous);
  return st;
#else
  return absl::OkStatus();
#endif
}

}  // namespace cuda

namespace internal {

Status CheckCudaDevice(Device device) {
  if (!device.is_cuda()) return absl::OkStatus();
  if (cuda::DeviceCount() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("device ", device.ToString(),
                     " requested but CUDA is unavailable: ", cuda::UnavailableReason()));
  }
  if (device.index < 0 || device.index >= cuda::DeviceCount()) {
    return absl::NotFoundError(absl::StrCat("device ", device.ToString(), " does not exist (",
                                            cuda::DeviceCount(), " CUDA devices)"));
  }
  return absl::OkStatus();
}

StatusOr<void*> CudaMalloc(int device, size_t nbytes) {
  MLCORE_RETURN_IF_ERROR(CheckCudaDevice(Device::CUDA(device)));
#ifdef MLCORE_WITH_CUDA
  int previous = 0;
  cudaGetDevice(&previous);
  cudaSetDevice(device);
  void* ptr = nullptr;
  Status st = FromCuda(cudaMalloc(&ptr, nbytes == 0 ? 1 : nbytes),
                       absl::StrCat("cudaMalloc of ", nbytes, " bytes on cuda:", device));
  cudaSetDevice(previous);
  MLCORE_RETURN_IF_ERROR(st);
  return ptr;
#else
  return absl::FailedPreconditionError("built without CUDA");
#endif
}

void CudaFree(int device, void* ptr) {
#ifdef MLCORE_WITH_CUDA
  int previous = 0;
  cudaGetDevice(&previous);
  cudaSetDevice(device);
  cudaFree(ptr);
  cudaSetDevice(previous);
#endif
}

Status CopyBytes(void* dst, Device dst_device, const void* src, Device src_device, size_t n) {
  if (n == 0) return absl::OkStatus();
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, n);
    return absl::OkStatus();
  }
  MLCORE_RETURN_IF_ERROR(CheckCudaDevice(dst_device));
  MLCORE_RETURN_IF_ERROR(CheckCudaDevice(src_device));
#ifdef MLCORE_WITH_CUDA
  if (dst_device.is_cuda() && src_device.is_cuda() && dst_device.index != src_device.index) {
    return FromCuda(cudaMemcpyPeer(dst, dst_device.index, src, src_device.index, n),
                    "cudaMemcpyPeer");
  }
  // Unified addressing lets the runtime infer the direction from the pointers.
  return FromCuda(cudaMemcpy(dst, src, n, cudaMemcpyDefault),
                  absl::StrCat("copy of ", n, " bytes from ", src_device.ToString(), " to ",
                               dst_device.ToString()));
#else
  return absl::FailedPreconditionError("built without CUDA");
#endif
}

}  // namespace internal
}  // namespace mlcore

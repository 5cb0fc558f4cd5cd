#include "mlcore/core/build_info.h"

#include "absl/strings/str_cat.h"
#include "core/cuda_version_headers.h"
#include "mlcore/build_config.h"
#include "mlcore/core/cuda.h"

#ifdef MLCORE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlcore {
#ifdef MLCORE_WITH_CUDA
namespace {

// CUDA encodes versions as 1000 * major + 10 * minor.
std::string CudaVersionString(int v) { return absl::StrCat(v / 1000, ".", (v % 1000) / 10); }

}  // namespace
#endif

BuildInfo GetBuildInfo() {
  BuildInfo info;
  info.version = MLCORE_VERSION_STRING;
  info.compiler = MLCORE_CXX_COMPILER;
  info.build_type = MLCORE_BUILD_TYPE;
#ifdef MLCORE_WITH_CUDA
  info.cuda_enabled = true;
  info.cuda_toolkit_version = MLCORE_CUDA_COMPILER_VERSION;
  info.cuda_architectures = MLCORE_CUDA_ARCHITECTURES;
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
    info.cuda_runtime_version = CudaVersionString(runtime);
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) {
    info.cuda_driver_version = CudaVersionString(driver);
  }
  cudaGetLastError();
  // The headers' versions: asking the libraries would dlopen them (cuda_libs.h), and a CPU-only
  // process must not pay that to describe itself. Their sonames carry the same major version.
  info.cublas_version =
      absl::StrCat(CUBLAS_VER_MAJOR, ".", CUBLAS_VER_MINOR, ".", CUBLAS_VER_PATCH);
#ifdef MLCORE_HAVE_CUDNN
  info.cudnn_version = absl::StrCat(CUDNN_MAJOR, ".", CUDNN_MINOR, ".", CUDNN_PATCHLEVEL);
#endif
#ifdef MLCORE_HAVE_NCCL_HEADERS
  info.nccl_version = absl::StrCat(NCCL_MAJOR, ".", NCCL_MINOR, ".", NCCL_PATCH);
#endif
#endif
  info.cuda_device_count = cuda::DeviceCount();
  info.cuda_unavailable_reason = cuda::UnavailableReason();
  return info;
}

}  // namespace mlcore

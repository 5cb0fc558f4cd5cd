// How this copy of mlcore was built and what it found at run time, for bug reports and for
// knowing why a GPU is not being used.
#pragma once

#include <string>

namespace mlcore {

struct BuildInfo {
  std::string version;
  std::string compiler;
  std::string build_type;
  bool cuda_enabled = false;         // compiled with the CUDA kernels
  std::string cuda_toolkit_version;  // nvcc that compiled them
  std::string cuda_architectures;    // e.g. "80;90"
  std::string cuda_runtime_version;  // linked runtime
  std::string cuda_driver_version;   // "" when no driver is loaded
  // The cuBLAS, cuDNN and NCCL headers the build saw; the libraries themselves are loaded on
  // first GPU use (MLCORE_CUDA_LIB_DIR, then the dynamic linker's path, then the toolkit's).
  std::string cublas_version;
  std::string cudnn_version;
  std::string nccl_version;
  int cuda_device_count = 0;
  std::string cuda_unavailable_reason;  // why cuda_device_count is 0
};

BuildInfo GetBuildInfo();

}  // namespace mlcore

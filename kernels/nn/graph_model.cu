// CUDA twin of Concatenate's row copies (src/nn/graph_model.cc; rules in src/nn/graph_model.h),
// also used by Conv2d to pad and crop for padding="same": pitched device-to-device copies.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/graph_model.h"

namespace mlcore::nn::cuda {

namespace cu = ::mlcore::cuda;

Status CopyRows(int device, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                size_t width, int64_t rows) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("CopyRows", device));
  if (rows <= 0 || width == 0) return absl::OkStatus();
  // On the legacy default stream (0), ordered with the kernels around it.
  return cu::Check("CopyRows",
                   cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width,
                                     static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, 0));
}

}  // namespace mlcore::nn::cuda

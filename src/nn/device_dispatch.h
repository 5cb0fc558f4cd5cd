// Reaching the CUDA twins from .cc files: a build without CUDA has no twins to link, and the
// public checks (Sequential::To, Fit's device) have already refused CUDA tensors there.
#pragma once

#include "mlcore/core/status.h"
#include "nn/cuda_kernels.h"

#if defined(MLCORE_WITH_CUDA)
#define MLCORE_NN_CUDA(expr) (expr)
#else
#define MLCORE_NN_CUDA(expr) \
  ::absl::FailedPreconditionError("this build of mlcore has no CUDA kernels")
#endif

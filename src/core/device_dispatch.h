// Reaching the CUDA twins (kernels/*/*.cu, declared beside their CPU twins) from .cc files: every
// call goes through MLCORE_CUDA_TWIN. A build without CUDA has no twins to link, and the public
// checks (Sequential::To, Fit's device) have already refused CUDA tensors there, so the call is
// replaced by an error. It stays in the code unevaluated (sizeof), so that the build without
// CUDA still type-checks it and its arguments count as used.
#pragma once

#include "mlcore/core/status.h"

namespace mlcore {
// Whether this libmlcore was built with the CUDA twins. Layers whose CUDA path exists only as
// twins report it as SupportsCuda(), so that Sequential::To refuses before a twin is reached.
#if defined(MLCORE_WITH_CUDA)
inline constexpr bool kCudaTwinsBuilt = true;
#else
inline constexpr bool kCudaTwinsBuilt = false;
#endif
}  // namespace mlcore

#if defined(MLCORE_WITH_CUDA)
#define MLCORE_CUDA_TWIN(expr) (expr)
#else
#define MLCORE_CUDA_TWIN(expr)        \
  (static_cast<void>(sizeof((expr))), \
   ::absl::FailedPreconditionError("this build of mlcore has no CUDA kernels"))
#endif

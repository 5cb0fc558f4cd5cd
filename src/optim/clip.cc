#include "mlcore/optim/clip.h"

#include <cmath>

#include "core/device_dispatch.h"
#include "optim/clip.h"
#include "optim/optimizer_util.h"

namespace mlcore::optim {

StatusOr<double> ClipGradNorm(absl::Span<Parameter* const> params, double max_norm) {
  if (!(max_norm > 0)) {
    return absl::InvalidArgumentError("ClipGradNorm: max_norm must be > 0");
  }
  MLCORE_RETURN_IF_ERROR(internal::CheckParameters("ClipGradNorm", params));
  double sq = 0.0;
  for (const Parameter* p : params) {
    const float* g = p->grad.data<float>();
    if (p->grad.device().is_cuda()) {
      // A non-CUDA build's MLCORE_CUDA_TWIN is a plain Status, hence the explicit StatusOr.
      const StatusOr<double> s =
          MLCORE_CUDA_TWIN(cuda::SumOfSquares(p->grad.device().index, g, p->grad.numel()));
      if (!s.ok()) return s.status();
      sq += *s;
      continue;
    }
    for (int64_t i = 0; i < p->grad.numel(); ++i) sq += static_cast<double>(g[i]) * g[i];
  }
  const double norm = std::sqrt(sq);
  if (std::isfinite(norm) && norm > max_norm) {
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    for (Parameter* p : params) {
      float* g = p->grad.data<float>();
      if (p->grad.device().is_cuda()) {
        MLCORE_RETURN_IF_ERROR(
            MLCORE_CUDA_TWIN(cuda::Scale(p->grad.device().index, g, p->grad.numel(), scale)));
        continue;
      }
      for (int64_t i = 0; i < p->grad.numel(); ++i) g[i] *= scale;
    }
  }
  return norm;
}

}  // namespace mlcore::optim

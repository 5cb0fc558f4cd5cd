// CUDA twin of Adam and AdamW (src/optim/adam.cc; rules in src/optim/adam.h): one fused
// grid-stride loop over the parameter, every operation rounded as the CPU rounds it.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "optim/adam.h"

namespace mlcore::optim::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void AdamKernel(float* w, const float* g, float* m, float* v, int64_t n, AdamArgs a) {
  MLCORE_GRID_STRIDE(i, n) {
    const float gi = a.decoupled ? g[i] : __fadd_rn(g[i], __fmul_rn(a.weight_decay, w[i]));
    const float mi = __fadd_rn(__fmul_rn(a.beta1, m[i]), __fmul_rn(1.0f - a.beta1, gi));
    const float vi =
        __fadd_rn(__fmul_rn(a.beta2, v[i]), __fmul_rn(__fmul_rn(1.0f - a.beta2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(sqrtf(vi), a.inv_sqrt_c2), a.eps);
    w[i] = __fsub_rn(__fmul_rn(w[i], a.decay), __fdiv_rn(__fmul_rn(a.step, mi), denom));
  }
}

}  // namespace

Status AdamStep(int device, float* w, const float* g, float* m, float* v, int64_t n,
                const AdamArgs& args) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("AdamStep", device));
  if (n <= 0) return absl::OkStatus();
  AdamKernel<<<cu::Blocks(n), cu::kThreads>>>(w, g, m, v, n, args);
  return cu::CheckLaunch("AdamStep");
}

}  // namespace mlcore::optim::cuda

// CUDA twin of SGD with momentum and Nesterov (src/optim/sgd.cc; rules in src/optim/sgd.h): one
// fused grid-stride loop, every operation rounded as the CPU rounds it.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "optim/sgd.h"

namespace mlcore::optim::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void SgdKernel(float* w, const float* g, float* v, int64_t n, float lr, float mu,
                          float wd, bool nesterov, bool first) {
  MLCORE_GRID_STRIDE(i, n) {
    float d = __fadd_rn(g[i], __fmul_rn(wd, w[i]));
    if (v != nullptr) {
      v[i] = first ? d : __fadd_rn(__fmul_rn(mu, v[i]), d);
      d = nesterov ? __fadd_rn(d, __fmul_rn(mu, v[i])) : v[i];
    }
    w[i] = __fsub_rn(w[i], __fmul_rn(lr, d));
  }
}

}  // namespace

Status SgdStep(int device, float* w, const float* g, float* v, int64_t n, float lr, float mu,
               float weight_decay, bool nesterov, bool first) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("SgdStep", device));
  if (n <= 0) return absl::OkStatus();
  SgdKernel<<<cu::Blocks(n), cu::kThreads>>>(w, g, v, n, lr, mu, weight_decay, nesterov, first);
  return cu::CheckLaunch("SgdStep");
}

}  // namespace mlcore::optim::cuda

// CUDA twin of the cross-entropy loss (src/nn/losses.cc; rules in src/nn/losses.h): softmax and
// loss fused, one warp per row with shuffles for the max and the sum.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/losses.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void SoftmaxCrossEntropyKernel(const float* z, const int64_t* labels, int64_t rows,
                                          int64_t classes, float* grad, float* row_loss) {
  const auto [row, lane] = cu::ThisWarpRow();
  if (row >= rows) return;
  const float* zr = z + row * classes;
  float m = -INFINITY;
  for (int64_t j = lane; j < classes; j += 32) m = fmaxf(m, zr[j]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  double sum = 0.0;
  for (int64_t j = lane; j < classes; j += 32) sum += exp(static_cast<double>(zr[j] - m));
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  const double log_sum = log(sum);
  const int64_t label = labels[row];
  if (lane == 0) row_loss[row] = static_cast<float>(log_sum - (zr[label] - m));
  if (grad != nullptr) {
    const float inv_rows = 1.0f / static_cast<float>(rows);
    for (int64_t j = lane; j < classes; j += 32) {
      const float p = static_cast<float>(exp(static_cast<double>(zr[j] - m) - log_sum));
      grad[row * classes + j] = (p - (j == label ? 1.0f : 0.0f)) * inv_rows;
    }
  }
}

}  // namespace

Status SoftmaxCrossEntropy(int device, const float* logits, const int64_t* labels, int64_t rows,
                           int64_t classes, float* grad, float* row_loss) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("SoftmaxCrossEntropy", device));
  if (rows <= 0) return absl::OkStatus();  // a grid of 0 blocks is a launch error
  if (classes <= 0) {
    return absl::InvalidArgumentError("nn::SoftmaxCrossEntropy: logits need at least one class");
  }
  SoftmaxCrossEntropyKernel<<<cu::WarpRowBlocks(rows), cu::kThreads>>>(logits, labels, rows,
                                                                       classes, grad, row_loss);
  return cu::CheckLaunch("SoftmaxCrossEntropy");
}

}  // namespace mlcore::nn::cuda

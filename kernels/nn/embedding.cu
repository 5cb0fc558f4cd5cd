// CUDA twin of Embedding (src/nn/embedding.cc; rules in src/nn/embedding.h): a gather one thread
// per output element, and the table gradient scattered with atomics.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/embedding.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__device__ int64_t ReadIndex(const void* indices, IndexKind kind, int64_t i) {
  switch (kind) {
    case IndexKind::kInt32:
      return static_cast<const int32_t*>(indices)[i];
    case IndexKind::kInt64:
      return static_cast<const int64_t*>(indices)[i];
    default:
      return static_cast<int64_t>(static_cast<const float*>(indices)[i]);
  }
}

__global__ void EmbeddingForwardKernel(const void* indices, IndexKind kind, int64_t count,
                                       const float* table, int64_t dim, float* out) {
  MLCORE_GRID_STRIDE(i, count * dim) {
    out[i] = table[ReadIndex(indices, kind, i / dim) * dim + i % dim];
  }
}

__global__ void EmbeddingBackwardKernel(const void* indices, IndexKind kind, int64_t count,
                                        const float* dy, int64_t dim, float* dtable) {
  MLCORE_GRID_STRIDE(i, count * dim) {
    atomicAdd(dtable + ReadIndex(indices, kind, i / dim) * dim + i % dim, dy[i]);
  }
}

}  // namespace

Status EmbeddingForward(int device, const void* indices, IndexKind kind, int64_t count,
                        const float* table, int64_t dim, float* out) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Embedding", device));
  if (count * dim <= 0) return absl::OkStatus();
  EmbeddingForwardKernel<<<cu::Blocks(count * dim), cu::kThreads>>>(indices, kind, count, table,
                                                                    dim, out);
  return cu::CheckLaunch("Embedding");
}

Status EmbeddingBackward(int device, const void* indices, IndexKind kind, int64_t count,
                         const float* dy, int64_t dim, int64_t vocab, float* dtable) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Embedding backward", device));
  // Async on the legacy default stream: ordered before the kernel without stalling the host.
  MLCORE_RETURN_IF_ERROR(cu::Check("Embedding backward (zero the table gradient)",
                                   cudaMemsetAsync(dtable, 0, sizeof(float) * vocab * dim, 0)));
  if (count * dim <= 0) return absl::OkStatus();
  EmbeddingBackwardKernel<<<cu::Blocks(count * dim), cu::kThreads>>>(indices, kind, count, dy, dim,
                                                                     dtable);
  return cu::CheckLaunch("Embedding backward");
}

}  // namespace mlcore::nn::cuda

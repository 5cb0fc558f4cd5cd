// Embedding (embedding.cc) and its CUDA twin (kernels/nn/embedding.cu). The rules both obey:
// - Indices are int32, int64 or float32 (truncated toward zero), range-checked on the host before
//   either twin reads a row, so the twins may assume 0 <= index < vocab.
// - The forward is a gather of whole rows: bit for bit the table's values.
// - The table gradient is zeroed, then every row of dy is added to its index's row in float32.
//   The CPU adds in input order; CUDA adds with atomics in any order, so a row hit more than
//   once agrees to float32 rounding.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// Raw device pointers of device `device`, the legacy default stream (see nn/dense.h).
enum class IndexKind : int { kInt32, kInt64, kFloat32 };

// out[i, :] = table[indices[i], :] for `count` indices of rows of `dim` floats.
Status EmbeddingForward(int device, const void* indices, IndexKind kind, int64_t count,
                        const float* table, int64_t dim, float* out);
// dtable is zeroed, then every row of dy is added to its index's row.
Status EmbeddingBackward(int device, const void* indices, IndexKind kind, int64_t count,
                         const float* dy, int64_t dim, int64_t vocab, float* dtable);

}  // namespace mlcore::nn::cuda

// The element-wise reductions every CPU path shares (Gloo's reduce callback, the shared-memory
// path): one function per dtype and op, out[i] = a[i] (op) b[i]. Half types reduce in float and
// round once per pair, as NCCL does. Bool reduces as logic: sum and max are "or", product and
// min are "and". Avg is a sum followed by Scale(1/world_size), for floating dtypes only.
#pragma once

#include <cstddef>

#include "mlcore/core/dtype.h"
#include "mlcore/dist/communicator.h"

namespace mlcore::dist::internal {

using ReduceFn = void (*)(void* out, const void* a, const void* b, size_t n);

// TypeError for avg of an integer or bool tensor (the mean of integers is not an integer).
StatusOr<ReduceFn> ReduceFunction(DType dtype, ReduceOp op);
// data[i] *= factor, for the floating dtypes.
void Scale(void* data, DType dtype, size_t n, double factor);

}  // namespace mlcore::dist::internal

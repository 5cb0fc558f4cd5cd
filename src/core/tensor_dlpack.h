// A DLTensor handed over by a DLPack producer, checked and viewed as a Tensor without a copy.
// Kept apart from the Python bindings (which unwrap the capsules) so that the checks of what a
// foreign producer claims can be fuzzed (fuzz/dlpack_fuzzer.cc) and tested from C++.
#pragma once

#include <dlpack/dlpack.h>

#include <functional>

#include "mlcore/core/tensor.h"

namespace mlcore::internal {

// The mlcore dtype of a DLPack dtype; TypeError naming it when mlcore has none.
StatusOr<DType> FromDLDataType(DLDataType dl);

// Views `dl` as a Tensor whose release runs `release` (the producer's deleter). InvalidArgument
// for what no producer should send: a negative ndim, dimensions without a shape array, negative
// dimensions, a size whose bytes overflow, data missing for a non-empty tensor, strides that are
// not compact row-major (a view would read the wrong elements), or a device mlcore lacks.
// `release` is not run on error: the caller still owns the producer's tensor.
StatusOr<Tensor> ViewDLTensor(const DLTensor& dl, std::function<void()> release);

}  // namespace mlcore::internal

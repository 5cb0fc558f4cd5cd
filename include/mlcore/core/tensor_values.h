// The small readouts a C++ program needs from a tensor, and the conversion Python applies to
// plain numbers: copy the elements out to a std::vector (from any dtype, any device), one
// element as a number, the argmax of each row (the predicted class), and a float32 tensor from
// doubles.
//   auto probs = model.Predict(x);                     // [batch, classes]
//   auto classes = mlcore::Argmax(*probs);             // StatusOr<std::vector<int64_t>>
//   auto values = mlcore::ToVector<float>(*probs);     // row-major copy
#pragma once

#include <cstdint>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"

namespace mlcore {

// The elements in row-major order as T (float, double, int64_t, int32_t, uint8_t or bool),
// converted from the tensor's dtype as static_cast does (float16/bfloat16 widen exactly); a GPU
// tensor is copied to the host first. InvalidArgument for an undefined tensor.
template <typename T>
StatusOr<std::vector<T>> ToVector(const Tensor& tensor);

// The one element of a tensor with numel() == 1 (any shape), as a double; InvalidArgument
// naming the shape otherwise.
StatusOr<double> Item(const Tensor& tensor);

// The index of the largest element of each row along the last axis ([batch, classes] ->
// batch indices; a 1-D tensor -> one index). Ties go to the first; NaN counts as largest, as
// numpy's argmax does. InvalidArgument for a 0-d or empty last axis.
StatusOr<std::vector<int64_t>> Argmax(const Tensor& tensor);

// A float32 tensor from doubles: what Python's mlcore.tensor([0.5, 1.0]) makes of Python floats
// (float32 unless a dtype is asked for, as PyTorch does). FromVector<double> keeps float64.
StatusOr<Tensor> FloatTensor(const std::vector<double>& values, const Shape& shape);

}  // namespace mlcore

// What a model takes from its callers, converted the way the Python binding converts numpy arrays
// (mlcore/nn/_arrays.py), so that a C++ program that loaded float64 data or uint8 labels calls
// Fit, Evaluate, Predict and TrainStep as a Python one does instead of converting by hand.
#pragma once

#include <string>

#include "mlcore/core/tensor.h"
#include "mlcore/nn/model.h"

namespace mlcore::nn::internal {

// Model inputs: float16 and float64 as float32; bool and uint8 as int64 (indices for an
// Embedding); float32, int32, int64 and anything else unchanged (the model's own checks name
// what it cannot take). Tensors that need no conversion are passed on without a copy.
StatusOr<TensorList> ModelInputs(const TensorList& x);

// Targets for `loss`: float32 for the losses whose targets are values or probabilities (mse,
// binary cross-entropy, under any of their registered names); otherwise bool and uint8 labels as
// int64 and anything else unchanged.
StatusOr<TensorList> ModelTargets(const TensorList& y, const std::string& loss);

// Keras's sample_weight as float32 (undefined stays undefined).
StatusOr<Tensor> SampleWeight(const Tensor& w);

}  // namespace mlcore::nn::internal

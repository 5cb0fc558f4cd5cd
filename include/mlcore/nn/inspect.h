// Reading a model as a user would: Keras's summary() table, and class probabilities from a
// classifier's logits (scikit-learn's predict_proba), for C++ programs and the Python API alike.
#pragma once

#include <string>

#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"
#include "mlcore/nn/model.h"

namespace mlcore::nn {

// A table of the model's layers (name, type, output shape with the batch axis as None,
// trainable parameter count) and the totals (trainable, non-trainable: BatchNorm statistics),
// as Keras's model.summary() prints. FailedPrecondition when the model is not built yet.
StatusOr<std::string> Summary(const Model& model);

// Probabilities from `outputs` (what PredictAll gives): the softmax over the last axis for a
// model compiled with cross_entropy (its aliases softmax_cross_entropy and
// sparse_categorical_crossentropy), the sigmoid for binary_cross_entropy (bce). New float32 CPU
// tensors. FailedPrecondition when the model is not compiled with one of those losses.
StatusOr<TensorList> Probabilities(const Model& model, const TensorList& outputs);

}  // namespace mlcore::nn

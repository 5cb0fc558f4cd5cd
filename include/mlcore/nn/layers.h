// The built-in layers. Each constructor returns a layer that is not built yet: its input size is
// learnt from the first batch (or Sequential::Build), as in Keras, so a model is written as
// Dense(256), ReLU(), Dense(10) without repeating sizes.
#pragma once

#include <cstdint>
#include <memory>

#include "mlcore/nn/layer.h"

namespace mlcore::nn {

struct DenseOptions {
  bool use_bias = true;
};
// y = x W + b with W of shape [in, units] (Glorot-uniform initialised) and b of shape [units]
// (zeros). Input must be [batch, in]; put a Flatten before it for images.
StatusOr<std::shared_ptr<Layer>> Dense(int64_t units, DenseOptions options = {});

std::shared_ptr<Layer> ReLU();
// The exact GELU, x * Phi(x) with Phi the normal CDF (PyTorch's default), not the tanh form.
std::shared_ptr<Layer> GELU();
std::shared_ptr<Layer> Tanh();
std::shared_ptr<Layer> Sigmoid();
// Over the last dimension. For training a classifier use the fused cross-entropy loss on logits
// instead: it is numerically stable where Softmax followed by a log is not.
std::shared_ptr<Layer> Softmax();
// [batch, d1, d2, ...] -> [batch, d1 * d2 * ...], a view without copying.
std::shared_ptr<Layer> Flatten();
// Inverted dropout: in training zeroes each element with probability `rate` and scales the rest
// by 1 / (1 - rate); identity in inference. The mask stream is seeded, so runs repeat exactly.
StatusOr<std::shared_ptr<Layer>> Dropout(double rate, uint64_t seed = 0);

// Normalises over the last dimension, then y = gamma * xhat + beta (gamma ones, beta zeros,
// both of the last dimension's size). CPU only.
StatusOr<std::shared_ptr<Layer>> LayerNorm(double eps = 1e-5);

}  // namespace mlcore::nn

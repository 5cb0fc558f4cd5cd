// Weight sharing for graph models: a layer applied at several nodes runs each later use on a
// copy of itself whose parameters and buffers alias the original's tensors. A copy keeps its
// own forward state (what its Backward needs) and its own gradient tensors, which the graph
// sums into the original's gradients.
#pragma once

#include <memory>

#include "mlcore/nn/layer.h"

namespace mlcore::nn::internal {

// A new layer of `layer`'s type and config, built for `input_shape` (which `layer` must already
// be built for) and aliasing `layer`'s parameters and buffers. Internal error when the copy's
// parameters differ in number or shape (a layer whose config() does not describe it).
StatusOr<std::shared_ptr<Layer>> ShareLayer(Layer& layer, const Shape& input_shape);

// Points `copy`'s parameters and buffers at `owner`'s current tensors and moves `copy`'s
// gradient tensors to their device when they are elsewhere. Cheap when already in place.
Status AliasParameters(Layer& owner, Layer& copy);

}  // namespace mlcore::nn::internal

// Weight sharing for graph models: a layer applied at several nodes runs each later use on a
// copy of itself whose parameters and buffers alias the original's tensors. A copy keeps its
// own forward state (what its Backward needs) and its own gradient tensors, which the graph
// sums into the original's gradients.
#pragma once

#include <cstdint>
#include <memory>

#include "mlcore/nn/layer.h"

namespace mlcore::nn::internal {

// A layer that draws random numbers while it runs (Dropout). Each use of a shared one draws
// from its own stream, so two uses in one step get independent masks; the streams derive from
// the layer's seed and the use's number, so a rebuilt model repeats them.
class RandomStreamLayer {
 public:
  virtual ~RandomStreamLayer() = default;
  // Restarts the layer's generator on the stream of use `use` (0: the layer's own seed).
  virtual void SetStream(uint64_t use) = 0;
};

// A new layer of `layer`'s type and config, built for `input_shape` (which `layer` must already
// be built for) and aliasing `layer`'s parameters and buffers; `use` (1, 2...) numbers the
// further use it runs, which picks its random stream. Internal error when the copy's
// parameters differ in number or shape (a layer whose config() does not describe it).
StatusOr<std::shared_ptr<Layer>> ShareLayer(Layer& layer, const Shape& input_shape, uint64_t use);

// Points `copy`'s parameters and buffers at `owner`'s current tensors and moves `copy`'s
// gradient tensors to their device when they are elsewhere. Cheap when already in place.
Status AliasParameters(Layer& owner, Layer& copy);

}  // namespace mlcore::nn::internal

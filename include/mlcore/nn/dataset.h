// A Dataset streams training data that need not fit in memory: a source (tensors sliced into
// examples, or a generator callback producing examples or whole batches) followed by stages
// (shuffle through a bounded buffer, batch, map, prefetch on a background thread), in the
// tf.data style. Datasets are immutable descriptions; each pass (epoch) makes a fresh
// Iterator, so one Dataset can be iterated again and again, and shuffling reseeds per epoch
// from (seed, epoch) so that every run repeats exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/tensor.h"

namespace mlcore::nn {

// One example (per-sample tensors, no batch axis) or one batch (a leading batch axis): one
// tensor per model input and one per model output.
struct Element {
  std::vector<Tensor> inputs;
  std::vector<Tensor> targets;
};

// One pass over a Dataset. Next fills *out and returns true, or returns false at the end;
// errors from any stage (a generator, a map function, a prefetch thread) come back from Next
// with their message. Destroying an iterator early stops its background threads.
class DatasetIterator {
 public:
  virtual ~DatasetIterator() = default;
  virtual StatusOr<bool> Next(Element* out) = 0;
};

// Stages keep their upstream alive through shared_from_this: create Datasets only through
// the factories below (they return shared_ptrs).
class Dataset : public std::enable_shared_from_this<Dataset> {
 public:
  virtual ~Dataset() = default;

  // Slices inputs and targets along axis 0 into examples; all must have the same (non-zero
  // count of) rows. The tensors are shared, not copied, and must be on the CPU.
  static StatusOr<std::shared_ptr<Dataset>> FromTensors(std::vector<Tensor> inputs,
                                                        std::vector<Tensor> targets);

  // A source that calls `next(&element)` until it returns false. `start` is called at the
  // beginning of every pass (epoch) and returns that pass's `next`, so a generator restarts
  // each epoch. With `batched` the elements are already batches (Batch() is then not needed
  // before Fit). `next` runs on the prefetch thread when a Prefetch follows.
  using NextFn = std::function<StatusOr<bool>(Element* out)>;
  using StartFn = std::function<StatusOr<NextFn>()>;
  static std::shared_ptr<Dataset> FromGenerator(StartFn start, bool batched = false);

  // Shuffles through a buffer of `buffer_size` elements (a buffer as large as the data gives a
  // uniform shuffle). Pass `epoch` of seed s uses a generator seeded from (s, epoch).
  StatusOr<std::shared_ptr<Dataset>> Shuffle(int64_t buffer_size, uint64_t seed) const;
  // Stacks `batch_size` consecutive examples into one batch (a new leading axis); the last,
  // smaller batch is kept unless `drop_remainder`. Examples of different shapes or dtypes are
  // an error naming the example and both shapes.
  StatusOr<std::shared_ptr<Dataset>> Batch(int64_t batch_size, bool drop_remainder = false) const;
  // Applies `fn` to every element (per batch after Batch, per example before it).
  using MapFn = std::function<StatusOr<Element>(Element element)>;
  std::shared_ptr<Dataset> Map(MapFn fn) const;
  // Runs everything upstream on a background thread, keeping up to `buffer_size` elements
  // ready in a bounded queue, so producing batch i+1 overlaps training on batch i.
  StatusOr<std::shared_ptr<Dataset>> Prefetch(int64_t buffer_size) const;

  // Whether elements are batches (after Batch, or from a batched generator).
  virtual bool batched() const = 0;
  // A fresh pass; `epoch` reseeds shuffling.
  virtual StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int epoch) const = 0;

 protected:
  Dataset() = default;
};

// Stacks examples (no batch axis) into one batch; exposed for custom sources.
StatusOr<Element> StackExamples(const std::vector<Element>& examples);

}  // namespace mlcore::nn

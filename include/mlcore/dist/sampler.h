// Sharding training data over the ranks of a data-parallel group. Every rank draws the same
// epoch-seeded permutation of the whole data (no communication needed) and takes every
// world_size-th sample of it starting at its rank, so shards are disjoint; the data is padded
// (by repeating its first samples) or cut (drop_last) to a multiple of world_size, so every rank
// runs the same number of steps and no collective waits for a rank that ran out of data.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/nn/dataset.h"

namespace mlcore::dist {

struct DistributedSamplerOptions {
  int64_t num_samples = 0;  // the whole data's sample count (>= 0)
  int rank = 0;             // in [0, world_size)
  int world_size = 1;       // >= 1
  // Reshuffle the whole data every epoch from (seed, epoch), identically on every rank. The
  // permutation is the one Model::Fit draws for the same seed and epoch, so one process with a
  // batch world_size times larger sees the same global batches as the group.
  bool shuffle = true;
  uint64_t seed = 0;
  // true: drop the last num_samples % world_size samples; false (the default): pad with the
  // first ones, so each sample is seen at least once per epoch and a few twice.
  bool drop_last = false;
};

class DistributedSampler {
 public:
  // InvalidArgument naming the field for a negative count, world_size < 1 or a rank outside
  // [0, world_size).
  static StatusOr<DistributedSampler> Create(const DistributedSamplerOptions& options);

  // This rank's sample indices for `epoch`, in training order: shard_size() of them.
  std::vector<int64_t> Indices(int64_t epoch) const;
  // Samples per rank per epoch (the same on every rank).
  int64_t shard_size() const;
  // shard_size() * world_size: the padded (or cut) epoch length over the group.
  int64_t total_size() const { return shard_size() * options_.world_size; }
  const DistributedSamplerOptions& options() const { return options_; }

 private:
  explicit DistributedSampler(const DistributedSamplerOptions& options) : options_(options) {}
  DistributedSamplerOptions options_;
};

// The permutation of [0, n) that Model::Fit shuffles with for `seed` and `epoch` (identity
// without `shuffle`); the sampler shards this order.
std::vector<int64_t> EpochOrder(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

// A Dataset of this rank's share of `data`'s elements, for streams whose length is not known in
// advance: elements are taken in groups of world_size and rank r keeps the r-th of each group.
// A last, incomplete group is dropped (drop_last) or padded by repeating its elements, so every
// rank yields the same count. Shard before Batch, after a seeded Shuffle (which draws the same
// order on every rank); `data` must yield single examples, not batches.
StatusOr<std::shared_ptr<nn::Dataset>> ShardDataset(std::shared_ptr<const nn::Dataset> data,
                                                    int rank, int world_size,
                                                    bool drop_last = false);

}  // namespace mlcore::dist

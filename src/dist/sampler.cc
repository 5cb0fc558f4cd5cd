// The distributed sampler and the Dataset shard stage (see sampler.h). Nothing here talks to
// other ranks: agreement comes from every rank computing the same seeded permutation.
#include "mlcore/dist/sampler.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

namespace mlcore::dist {

std::vector<int64_t> EpochOrder(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    // The seed formula Model::Fit uses, so a one-process run and a group agree on the order.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), rng);
  }
  return order;
}

StatusOr<DistributedSampler> DistributedSampler::Create(const DistributedSamplerOptions& options) {
  if (options.num_samples < 0) {
    return absl::InvalidArgumentError("DistributedSampler: num_samples must be >= 0, got " +
                                      std::to_string(options.num_samples));
  }
  if (options.world_size < 1) {
    return absl::InvalidArgumentError("DistributedSampler: world_size must be >= 1, got " +
                                      std::to_string(options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        "DistributedSampler: rank " + std::to_string(options.rank) +
        " is outside [0, world_size=" + std::to_string(options.world_size) + ")");
  }
  return DistributedSampler(options);
}

int64_t DistributedSampler::shard_size() const {
  const int64_t n = options_.num_samples, w = options_.world_size;
  return options_.drop_last ? n / w : (n + w - 1) / w;
}

std::vector<int64_t> DistributedSampler::Indices(int64_t epoch) const {
  std::vector<int64_t> order =
      EpochOrder(options_.num_samples, options_.shuffle, options_.seed, epoch);
  const int64_t total = total_size();
  const int64_t n = options_.num_samples;
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(shard_size()));
  for (int64_t i = options_.rank; i < total; i += options_.world_size) {
    mine.push_back(order[static_cast<size_t>(i % n)]);  // i >= n only when padding
  }
  return mine;
}

namespace {

class ShardIterator : public nn::DatasetIterator {
 public:
  ShardIterator(std::unique_ptr<nn::DatasetIterator> up, int rank, int world, bool drop_last)
      : up_(std::move(up)), rank_(rank), world_(world), drop_last_(drop_last) {}

  // Reads the next group of world_ elements and hands out this rank's.
  StatusOr<bool> Next(nn::Element* out) override {
    if (done_) return false;
    std::vector<nn::Element> group;
    while (static_cast<int>(group.size()) < world_) {
      nn::Element e;
      MLCORE_ASSIGN_OR_RETURN(bool more, up_->Next(&e));
      if (!more) break;
      // Elements after this rank's are only counted: padding wraps to the ones before it.
      group.push_back(static_cast<int>(group.size()) <= rank_ ? std::move(e) : nn::Element());
    }
    if (static_cast<int>(group.size()) < world_) {
      done_ = true;
      if (group.empty() || drop_last_) return false;
      // Pad the incomplete group by wrapping around it, as the sampler pads an epoch.
      const size_t k = group.size();
      if (static_cast<size_t>(rank_) >= k) {
        *out = group[static_cast<size_t>(rank_) % k];  // k <= rank_: all were kept
        return true;
      }
    }
    *out = std::move(group[static_cast<size_t>(rank_)]);
    return true;
  }

 private:
  std::unique_ptr<nn::DatasetIterator> up_;
  int rank_, world_;
  bool drop_last_;
  bool done_ = false;
};

class ShardStage : public nn::Dataset {
 public:
  ShardStage(std::shared_ptr<const nn::Dataset> up, int rank, int world, bool drop_last)
      : up_(std::move(up)), rank_(rank), world_(world), drop_last_(drop_last) {}
  bool batched() const override { return false; }
  StatusOr<std::unique_ptr<nn::DatasetIterator>> MakeIterator(int epoch) const override {
    MLCORE_ASSIGN_OR_RETURN(auto up, up_->MakeIterator(epoch));
    return std::unique_ptr<nn::DatasetIterator>(
        new ShardIterator(std::move(up), rank_, world_, drop_last_));
  }

 private:
  std::shared_ptr<const nn::Dataset> up_;
  int rank_, world_;
  bool drop_last_;
};

}  // namespace

StatusOr<std::shared_ptr<nn::Dataset>> ShardDataset(std::shared_ptr<const nn::Dataset> data,
                                                    int rank, int world_size, bool drop_last) {
  if (data == nullptr) return absl::InvalidArgumentError("ShardDataset: no Dataset");
  if (data->batched()) {
    return absl::InvalidArgumentError(
        "ShardDataset: the Dataset yields batches; shard the examples, then Batch");
  }
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError("ShardDataset: rank " + std::to_string(rank) +
                                      " is outside [0, world_size=" + std::to_string(world_size) +
                                      ")");
  }
  return std::shared_ptr<nn::Dataset>(
      std::make_shared<ShardStage>(std::move(data), rank, world_size, drop_last));
}

}  // namespace mlcore::dist

// DataParallel trains one model on several processes at once, each on its share of the data,
// keeping the copies identical: the same architecture is checked on every rank, rank 0's
// weights are copied to all, and every step's gradients are averaged over the group (in flat
// buckets whose allreduce overlaps the backward pass) before clipping and the optimizer step.
//
//   MLCORE_ASSIGN_OR_RETURN(DistEnv env, InitFromEnv(&comm));          // or InitProcessGroup
//   auto dp = DataParallel::Create(comm);
//   nn::FitOptions o;  o.strategy = *dp;                                 // fit shards by itself
//   MLCORE_ASSIGN_OR_RETURN(nn::History h, model.Fit(x, y, o));
//
// train_on_batch and custom loops: Prepare(model) once, then every TrainStep / BackwardAll +
// FinishGradients goes through the reducer; set_sync(false) accumulates micro-batches locally
// (no_sync). Every call here is collective: all ranks make the same calls in the same order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/dist/communicator.h"
#include "mlcore/nn/model.h"

namespace mlcore::dist {

namespace internal {
class Reducer;
}

struct DataParallelOptions {
  // Bytes of gradients in the first bucket. Small, so the first allreduce starts early in the
  // backward pass; smaller still costs one more collective per step.
  int64_t first_bucket_bytes = int64_t{1} << 20;
  // Bytes per later bucket. Larger buckets mean fewer collectives (less latency per step) but
  // start later, overlapping less of the backward pass.
  int64_t bucket_bytes = int64_t{25} << 20;
  // Timeout of each collective; kUseDefaultTimeout: the communicator's.
  absl::Duration timeout = kUseDefaultTimeout;
  // Shard in-memory data in Fit: drop the last samples instead of padding with the first ones.
  bool drop_last = false;
  // Prepare connects every SyncBatchNorm layer of the model (sync_batch_norm.h) to the group, so
  // it normalises with the whole group's batch statistics. False leaves them per rank.
  bool sync_batchnorm = true;
};

class DataParallel : public nn::FitStrategy {
 public:
  // InvalidArgument for a null communicator or bucket sizes <= 0.
  static StatusOr<std::shared_ptr<DataParallel>> Create(std::shared_ptr<Communicator> comm,
                                                        DataParallelOptions options = {});
  ~DataParallel() override;

  int rank() const;
  int world_size() const;
  const std::shared_ptr<Communicator>& communicator() const { return comm_; }

  // Makes `model` (built) a replica of rank 0's: checks that every rank built the same
  // architecture (each parameter's and buffer's name, shape and dtype; a mismatch is
  // InvalidArgument on every rank, naming the differing ranks and, where this rank differs, the
  // first differing entry), copies rank 0's parameters and buffers to all, and installs the
  // gradient reducer as the model's GradientSync. FailedPrecondition for a model not built yet.
  Status Prepare(nn::Model& model);
  // no_sync: while false, steps accumulate gradients locally (summed) and reduce nothing; the
  // next step with sync reduces the accumulated sum. Custom loops only step the optimizer then.
  void set_sync(bool sync);
  bool sync() const { return sync_; }
  // Bucket sizes in bytes, in launch order, of the prepared model's reducer (after one step).
  std::vector<int64_t> bucket_sizes() const;

  // The group's mean loss and metrics over (x, y): each rank evaluates a disjoint share (no
  // padding) and the sums are combined, so every rank gets the numbers of the whole data.
  StatusOr<nn::Logs> Evaluate(nn::Model& model, const nn::TensorList& x, const nn::TensorList& y,
                              int64_t batch_size = 256);
  // Rank 0 writes the checkpoint (Model::Save, atomic); the others wait for it and fail with rank
  // 0's error when it could not.
  Status Save(const nn::Model& model, const std::string& dir);
  // Loads the checkpoint in `dir` (written by Save) into `model` and its optimizer on this rank
  // (the directory must be readable by every rank) and returns the epochs it had finished; 0
  // when `dir` holds no checkpoint yet. InvalidArgument when it is for another architecture.
  StatusOr<int> Resume(nn::Model& model, const std::string& dir);
  // Fit with checkpoints: resumes from `checkpoint_dir` when it holds one, trains until
  // `options.epochs` epochs in all (so a restarted job continues where it stopped) and saves
  // after every epoch. Empty checkpoint_dir: a plain Fit under this strategy.
  StatusOr<nn::History> Fit(nn::Model& model, const nn::TensorList& x, const nn::TensorList& y,
                            nn::FitOptions options, const std::string& checkpoint_dir = "");

  // nn::FitStrategy.
  Status OnFitBegin(nn::Model& model) override;
  StatusOr<std::vector<int64_t>> EpochIndices(int epoch, int64_t num_samples, bool shuffle,
                                              uint64_t seed) override;
  Status ReduceTotals(nn::EpochTotals& totals) override;

 private:
  DataParallel(std::shared_ptr<Communicator> comm, DataParallelOptions options);
  Status CheckSameArchitecture(const nn::Model& model);

  std::shared_ptr<Communicator> comm_;
  DataParallelOptions options_;
  bool sync_ = true;
  std::shared_ptr<internal::Reducer> reducer_;
  const nn::Model* prepared_ = nullptr;
  size_t num_outputs_ = 1;  // of the prepared model, for ReduceTotals
};

}  // namespace mlcore::dist

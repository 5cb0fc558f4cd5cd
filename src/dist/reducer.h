// The gradient reducer of DataParallel: a GradientSync that averages every gradient over the
// group in flat buckets, overlapping the reductions with the rest of the backward pass.
//
// The first step records the order in which gradients become ready, agrees on rank 0's order
// (one broadcast) and lays the buckets out in it: the first bucket holds up to
// first_bucket_bytes, later ones up to bucket_bytes (a larger gradient gets a bucket alone).
// From the second step on, each gradient is copied into its bucket slot when ready, and a bucket's
// allreduce starts as soon as its last gradient is in and every earlier bucket has started, so
// every rank issues the same collectives in the same order. The last bucket (the first layers'
// gradients, ready at the end of the backward pass) also carries the step's non-finite flag, so
// it is reduced in Finish, on the calling thread once the earlier buckets are done; Finish then
// copies the averages back into the gradients (unless they are views of the buckets) and reads
// the agreed verdict (any rank's NaN skips the step everywhere).
//
// Without sync (no_sync) gradients are added into the slots and nothing is reduced; the next
// synced step reduces the sum of the accumulated micro-batches' gradients.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "mlcore/dist/communicator.h"
#include "mlcore/nn/gradient_sync.h"

namespace mlcore::dist::internal {

struct ReducerOptions {
  int64_t first_bucket_bytes = int64_t{1} << 20;
  int64_t bucket_bytes = int64_t{25} << 20;
  absl::Duration timeout = kUseDefaultTimeout;
  // After the first step, make each parameter's gradient a view of its bucket slot (torch's
  // gradient_as_bucket_view), so the backward pass writes straight into the buckets and the
  // averages land in the gradients: no copy in, no copy back. Only where every layer writes its
  // gradient in place, once per backward (Sequential models); a gradient found replaced by
  // another tensor (a device move) is copied as before.
  bool grads_as_bucket_views = false;
};

class Reducer : public nn::GradientSync {
 public:
  // `params`: the model's trainable parameters (float32, one device), in the model's order.
  Reducer(std::shared_ptr<Communicator> comm, std::vector<Parameter*> params,
          ReducerOptions options);

  Status OnGradientReady(Parameter& param) override;
  Status Finish(nn::StepContext& step) override;
  void Abort(const Status& why) override;

  // false: accumulate locally (no_sync); true (the default): reduce at the next Finish.
  void set_sync(bool sync) { sync_ = sync; }
  bool sync() const { return sync_; }
  // Bytes per bucket in launch order (empty before the first step).
  std::vector<int64_t> bucket_sizes() const;
  const std::vector<Parameter*>& params() const { return params_; }

 private:
  struct Bucket {
    Tensor flat;                 // float32 [elements], on the parameters' device
    std::vector<int> members;    // parameter indices in ready order
    int pending = 0;             // members not yet ready this step
    std::shared_ptr<Work> work;  // the allreduce in flight
    Tensor accumulated;          // bucket views: the no_sync steps' sum, added before reducing
  };
  Status BuildBuckets(const std::vector<int>& order);
  // Copies (or adds, when accumulating) parameter i's gradient into its slot.
  Status Stage(int i);
  // Parameter i's slot in its bucket, flat.
  StatusOr<Tensor> SlotOf(int i) const;
  // Whether parameter i's gradient is (still) the view of its slot.
  bool IsView(int i) const;
  // Bucket views: makes every gradient the view of its slot (after the first step's staging).
  Status MakeViews();
  // Starts the allreduce of every complete bucket whose predecessors have started.
  Status LaunchReady();
  Status WaitAll();
  void ResetStep();

  std::shared_ptr<Communicator> comm_;
  std::vector<Parameter*> params_;
  ReducerOptions options_;
  absl::flat_hash_map<const Parameter*, int> index_;
  std::vector<int> first_order_;  // ready order seen in the first step
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;      // per parameter
  std::vector<int64_t> offset_of_;  // element offset of each parameter in its bucket
  std::vector<bool> ready_;         // per parameter, this step
  int next_launch_ = 0;
  bool sync_ = true;
  bool accumulated_ = false;        // a no_sync step left gradients in the slots (or accumulated)
  std::vector<const void*> views_;  // per parameter: its slot's address once a view, else null
};

}  // namespace mlcore::dist::internal

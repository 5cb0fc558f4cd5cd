// The bucketed gradient reducer (see reducer.h).
#include "dist/reducer.h"

#include <string>

#include "mlcore/ops/elementwise.h"

namespace mlcore::dist::internal {

Reducer::Reducer(std::shared_ptr<Communicator> comm, std::vector<Parameter*> params,
                 ReducerOptions options)
    : comm_(std::move(comm)), params_(std::move(params)), options_(options) {
  for (size_t i = 0; i < params_.size(); ++i) index_[params_[i]] = static_cast<int>(i);
  ready_.assign(params_.size(), false);
}

std::vector<int64_t> Reducer::bucket_sizes() const {
  std::vector<int64_t> out;
  for (const Bucket& b : buckets_) out.push_back(static_cast<int64_t>(b.flat.nbytes()));
  return out;
}

Status Reducer::BuildBuckets(const std::vector<int>& local_order) {
  // Every rank lays its buckets out in rank 0's order, so the collectives match even if a rank's
  // backward reported in another order.
  const int n = static_cast<int>(params_.size());
  MLCORE_ASSIGN_OR_RETURN(Tensor order, Tensor::Empty({n}, DType::kInt64));
  auto* o = static_cast<int64_t*>(order.data());
  for (int i = 0; i < n; ++i) o[i] = local_order[i];
  MLCORE_RETURN_IF_ERROR(comm_->Broadcast(order, 0, options_.timeout));
  std::vector<bool> seen(n, false);
  for (int i = 0; i < n; ++i) {
    if (o[i] < 0 || o[i] >= n || seen[o[i]]) {
      return absl::InternalError("DataParallel: rank 0's gradient order is not a permutation");
    }
    seen[o[i]] = true;
  }
  bucket_of_.assign(n, -1);
  offset_of_.assign(n, 0);
  buckets_.clear();
  std::vector<std::vector<int>> groups;
  int64_t fill = 0;
  for (int k = 0; k < n; ++k) {
    const int i = static_cast<int>(o[k]);
    const int64_t bytes = static_cast<int64_t>(params_[i]->grad.nbytes());
    // The first bucket is small, so the first allreduce starts early in the backward pass.
    const int64_t cap = groups.size() <= 1 ? options_.first_bucket_bytes : options_.bucket_bytes;
    if (groups.empty() || (fill > 0 && fill + bytes > cap)) {
      groups.emplace_back();
      fill = 0;
    }
    groups.back().push_back(i);
    fill += bytes;
  }
  if (groups.empty()) groups.emplace_back();  // a model without parameters: the flag only
  const Device device = params_.empty() ? Device::CPU() : params_[0]->grad.device();
  for (const std::vector<int>& members : groups) {
    Bucket b;
    b.members = members;
    int64_t elements = 0;
    for (int i : members) {
      bucket_of_[i] = static_cast<int>(buckets_.size());
      offset_of_[i] = elements;
      elements += params_[i]->grad.numel();
    }
    // The last bucket carries one more element: the non-finite flag, averaged with the
    // gradients, so agreeing on the verdict costs no collective of its own.
    if (buckets_.size() + 1 == groups.size()) ++elements;
    MLCORE_ASSIGN_OR_RETURN(b.flat, Tensor::Zeros({elements}, DType::kFloat32, device));
    b.pending = static_cast<int>(members.size());
    buckets_.push_back(std::move(b));
  }
  return absl::OkStatus();
}

StatusOr<Tensor> Reducer::SlotOf(int i) const {
  const Bucket& b = buckets_[bucket_of_[i]];
  return b.flat.Slice(offset_of_[i], offset_of_[i] + params_[i]->grad.numel());
}

bool Reducer::IsView(int i) const {
  return !views_.empty() && views_[i] != nullptr && params_[i]->grad.defined() &&
         params_[i]->grad.data() == views_[i];
}

Status Reducer::MakeViews() {
  views_.assign(params_.size(), nullptr);
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    MLCORE_ASSIGN_OR_RETURN(Tensor slot, SlotOf(static_cast<int>(i)));
    MLCORE_ASSIGN_OR_RETURN(p.grad, slot.Reshape(p.grad.shape()));
    views_[i] = p.grad.data();
  }
  return absl::OkStatus();
}

Status Reducer::Stage(int i) {
  // A view on a plain synced step, the steady state of a Sequential model: the backward pass
  // wrote the gradient into its slot already, so staging is nothing (not even a slice).
  const bool view = options_.grads_as_bucket_views && IsView(i);
  if (view && (!sync_ || !accumulated_)) return absl::OkStatus();
  Parameter& p = *params_[i];
  Bucket& b = buckets_[bucket_of_[i]];
  MLCORE_ASSIGN_OR_RETURN(Tensor slot, SlotOf(i));
  if (options_.grads_as_bucket_views) {
    // Copied when something replaced the gradient; the no_sync steps' sum joins it on the
    // synced step.
    if (!view) {
      MLCORE_ASSIGN_OR_RETURN(Tensor grad, p.grad.Reshape({p.grad.numel()}));
      MLCORE_RETURN_IF_ERROR(slot.CopyFrom(grad));
    }
    if (!sync_ || !accumulated_) return absl::OkStatus();
    MLCORE_ASSIGN_OR_RETURN(Tensor sum,
                            b.accumulated.Slice(offset_of_[i], offset_of_[i] + p.grad.numel()));
    return ops::Axpy(1.0, sum, slot);
  }
  MLCORE_ASSIGN_OR_RETURN(Tensor grad, p.grad.Reshape({p.grad.numel()}));
  if (accumulated_) return ops::Axpy(1.0, grad, slot);
  return slot.CopyFrom(grad);
}

Status Reducer::LaunchReady() {
  // The last bucket waits for Finish, which writes the flag into it.
  while (sync_ && next_launch_ + 1 < static_cast<int>(buckets_.size()) &&
         buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_];
    MLCORE_ASSIGN_OR_RETURN(b.work,
                            comm_->AllReduceAsync(b.flat, ReduceOp::kAvg, options_.timeout));
    ++next_launch_;
  }
  return absl::OkStatus();
}

Status Reducer::OnGradientReady(Parameter& param) {
  auto it = index_.find(&param);
  if (it == index_.end()) {
    return absl::FailedPreconditionError("DataParallel: parameter '" + param.name +
                                         "' is not one of the model's when it was prepared; "
                                         "prepare the model again after changing it");
  }
  const int i = it->second;
  if (ready_[i]) {
    return absl::InternalError("DataParallel: gradient of '" + param.name +
                               "' reported twice in one step");
  }
  ready_[i] = true;
  if (buckets_.empty()) {  // the first step: only learn the order
    first_order_.push_back(i);
    return absl::OkStatus();
  }
  MLCORE_RETURN_IF_ERROR(Stage(i));
  --buckets_[bucket_of_[i]].pending;
  return LaunchReady();
}

Status Reducer::WaitAll() {
  Status first;
  for (Bucket& b : buckets_) {
    if (b.work == nullptr) continue;
    Status s = b.work->Wait();
    b.work.reset();
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

void Reducer::ResetStep() {
  for (Bucket& b : buckets_) b.pending = static_cast<int>(b.members.size());
  ready_.assign(params_.size(), false);
  next_launch_ = 0;
}

Status Reducer::Finish(nn::StepContext& step) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!ready_[i]) {
      return absl::FailedPreconditionError("DataParallel: no gradient for '" + params_[i]->name +
                                           "' this step; every rank must report every parameter");
    }
  }
  if (buckets_.empty()) {
    MLCORE_RETURN_IF_ERROR(BuildBuckets(first_order_));
    for (size_t i = 0; i < params_.size(); ++i) {
      MLCORE_RETURN_IF_ERROR(Stage(static_cast<int>(i)));
    }
    for (Bucket& b : buckets_) b.pending = 0;
    if (options_.grads_as_bucket_views) MLCORE_RETURN_IF_ERROR(MakeViews());
  }
  if (!sync_) {  // no_sync: keep the sums (in the slots, or beside them) for the next synced step
    if (options_.grads_as_bucket_views) {
      for (Bucket& b : buckets_) {
        if (!accumulated_) {
          MLCORE_ASSIGN_OR_RETURN(b.accumulated, b.flat.Clone());
        } else {
          MLCORE_RETURN_IF_ERROR(ops::Axpy(1.0, b.flat, b.accumulated));
        }
      }
    }
    accumulated_ = true;
    ResetStep();
    return absl::OkStatus();
  }
  MLCORE_RETURN_IF_ERROR(LaunchReady());
  Bucket& last = buckets_.back();
  float* flag = static_cast<float*>(last.flat.data()) + (last.flat.numel() - 1);
  if (last.flat.device().is_cpu()) {
    *flag = step.non_finite ? 1.f : 0.f;
  } else {
    MLCORE_ASSIGN_OR_RETURN(Tensor slot, last.flat.Slice(last.flat.numel() - 1, last.flat.numel()));
    MLCORE_RETURN_IF_ERROR(ops::Fill(slot, step.non_finite ? 1.0 : 0.0));
  }
  // Collectives run in issue order, so the last bucket could not start before the earlier ones
  // finished anyway: wait for them, then reduce it as a blocking call, which the communicator
  // runs on this thread (no hand-off to its worker thread and back: on a busy machine each such
  // wake-up may cost a scheduling quantum).
  MLCORE_RETURN_IF_ERROR(WaitAll());
  next_launch_ = static_cast<int>(buckets_.size());
  MLCORE_RETURN_IF_ERROR(comm_->AllReduce(last.flat, ReduceOp::kAvg, options_.timeout));
  for (size_t i = 0; i < params_.size(); ++i) {
    if (IsView(static_cast<int>(i))) continue;  // the average is in the gradient already
    Parameter& p = *params_[i];
    MLCORE_ASSIGN_OR_RETURN(Tensor slot, SlotOf(static_cast<int>(i)));
    MLCORE_ASSIGN_OR_RETURN(Tensor grad, p.grad.Reshape({p.grad.numel()}));
    MLCORE_RETURN_IF_ERROR(grad.CopyFrom(slot));
  }
  accumulated_ = false;
  ResetStep();
  // The mean of the ranks' flags: above 0 when any rank's loss was not finite (NaN when its
  // gradients were: also a verdict to skip).
  float agreed = 0.f;
  if (last.flat.device().is_cpu()) {
    agreed = *flag;
  } else {
    MLCORE_ASSIGN_OR_RETURN(Tensor slot, last.flat.Slice(last.flat.numel() - 1, last.flat.numel()));
    MLCORE_ASSIGN_OR_RETURN(Tensor host, slot.To(Device::CPU()));
    agreed = *static_cast<const float*>(host.data());
  }
  step.non_finite = !(agreed == 0.f);
  return absl::OkStatus();
}

void Reducer::Abort(const Status& why) {
  // Wait out what is in flight (a broken communicator answers at once) so that no collective
  // still reads a bucket when the next step writes it.
  WaitAll().IgnoreError();
  accumulated_ = false;
  ResetStep();
  if (buckets_.empty()) first_order_.clear();
}

}  // namespace mlcore::dist::internal

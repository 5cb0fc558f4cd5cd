// DataParallel: preparing replicas, sharding Fit's data, global epoch numbers and metrics, and
// checkpoints written once (see data_parallel.h). The per-step gradient work is the Reducer's.
#include "mlcore/dist/data_parallel.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "dist/reducer.h"
#include "mlcore/dist/sampler.h"
#include "mlcore/dist/sync_batch_norm.h"
#include "mlcore/nn/callback.h"

namespace mlcore::dist {
namespace {

// One line per parameter and buffer: what every rank must agree on.
std::vector<std::string> Describe(const nn::Model& model) {
  std::vector<std::string> out;
  auto add = [&](const char* kind, const std::vector<Parameter*>& list) {
    for (const Parameter* p : list) {
      out.push_back(std::string(kind) + " '" + p->name + "' " + ShapeToString(p->value.shape()) +
                    " " + DTypeName(p->value.dtype()));
    }
  };
  add("parameter", model.parameters());
  add("buffer", model.buffers());
  return out;
}

uint64_t Fnv1a(const std::vector<std::string>& lines) {
  uint64_t h = 1469598103934665603ull;
  for (const std::string& line : lines) {
    for (unsigned char c : line) h = (h ^ c) * 1099511628211ull;
    h = (h ^ '\n') * 1099511628211ull;
  }
  return h;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// A string from rank 0 to every rank (its length, then its bytes).
StatusOr<std::string> BroadcastString(Communicator& comm, const std::string& mine,
                                      absl::Duration timeout) {
  MLCORE_ASSIGN_OR_RETURN(Tensor len,
                          Tensor::FromVector<int64_t>({static_cast<int64_t>(mine.size())}, {1}));
  MLCORE_RETURN_IF_ERROR(comm.Broadcast(len, 0, timeout));
  const int64_t n = *static_cast<const int64_t*>(len.data());
  if (n == 0) return std::string();
  MLCORE_ASSIGN_OR_RETURN(Tensor bytes, Tensor::Zeros({n}, DType::kUInt8));
  if (comm.rank() == 0) std::memcpy(bytes.data(), mine.data(), mine.size());
  MLCORE_RETURN_IF_ERROR(comm.Broadcast(bytes, 0, timeout));
  return std::string(static_cast<const char*>(bytes.data()), static_cast<size_t>(n));
}

std::string RankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ", ") + std::to_string(r);
  return s;
}

// Saves through DataParallel::Save after every epoch, on every rank (rank 0 writes).
class SaveEachEpoch : public nn::Callback {
 public:
  SaveEachEpoch(DataParallel* dp, std::string dir) : dp_(dp), dir_(std::move(dir)) {}
  Status OnEpochEnd(nn::Model& model, int, const nn::Logs&, bool*) override {
    return dp_->Save(model, dir_);
  }

 private:
  DataParallel* dp_;
  std::string dir_;
};

}  // namespace

DataParallel::DataParallel(std::shared_ptr<Communicator> comm, DataParallelOptions options)
    : comm_(std::move(comm)), options_(options) {}

DataParallel::~DataParallel() = default;

StatusOr<std::shared_ptr<DataParallel>> DataParallel::Create(std::shared_ptr<Communicator> comm,
                                                             DataParallelOptions options) {
  if (comm == nullptr) return absl::InvalidArgumentError("DataParallel: no communicator");
  if (options.first_bucket_bytes <= 0 || options.bucket_bytes <= 0) {
    return absl::InvalidArgumentError("DataParallel: bucket sizes must be > 0");
  }
  return std::shared_ptr<DataParallel>(new DataParallel(std::move(comm), options));
}

int DataParallel::rank() const { return comm_->rank(); }
int DataParallel::world_size() const { return comm_->world_size(); }

void DataParallel::set_sync(bool sync) {
  sync_ = sync;
  if (reducer_) reducer_->set_sync(sync);
}

std::vector<int64_t> DataParallel::bucket_sizes() const {
  return reducer_ ? reducer_->bucket_sizes() : std::vector<int64_t>();
}

Status DataParallel::CheckSameArchitecture(const nn::Model& model) {
  const std::vector<std::string> mine = Describe(model);
  const int world = comm_->world_size();
  MLCORE_ASSIGN_OR_RETURN(Tensor hash,
                          Tensor::FromVector<int64_t>({static_cast<int64_t>(Fnv1a(mine))}, {1}));
  MLCORE_ASSIGN_OR_RETURN(Tensor all, Tensor::Zeros({world}, DType::kInt64));
  MLCORE_RETURN_IF_ERROR(comm_->AllGather(hash, all, options_.timeout));
  const auto* h = static_cast<const int64_t*>(all.data());
  std::vector<int> differ;
  for (int r = 1; r < world; ++r) {
    if (h[r] != h[0]) differ.push_back(r);
  }
  if (differ.empty()) return absl::OkStatus();
  // Every rank fails; a rank that differs also says where, against rank 0's description.
  MLCORE_ASSIGN_OR_RETURN(std::string text, BroadcastString(*comm_, Join(mine), options_.timeout));
  std::string message = "DataParallel: rank(s) " + RankList(differ) +
                        " built a different model than rank 0 (parameter and buffer names, "
                        "shapes or dtypes differ)";
  if (h[rank()] != h[0]) {
    const std::vector<std::string> theirs = Split(text);
    for (size_t i = 0; i < std::max(mine.size(), theirs.size()); ++i) {
      const std::string a = i < theirs.size() ? theirs[i] : "nothing";
      const std::string b = i < mine.size() ? mine[i] : "nothing";
      if (a != b) {
        message += "; entry " + std::to_string(i) + " is " + a + " on rank 0 but " + b +
                   " on rank " + std::to_string(rank());
        break;
      }
    }
  }
  return absl::InvalidArgumentError(message);
}

Status DataParallel::Prepare(nn::Model& model) {
  if (!model.built()) {
    return absl::FailedPreconditionError(
        "DataParallel: build the model before preparing it (every rank must build the same one)");
  }
  MLCORE_RETURN_IF_ERROR(CheckSameArchitecture(model));
  std::vector<Parameter*> params = model.parameters();
  for (const Parameter* p : params) {
    if (p->value.dtype() != DType::kFloat32 || !p->grad.defined()) {
      return absl::InvalidArgumentError("DataParallel: parameter '" + p->name +
                                        "' is not a float32 parameter with a gradient");
    }
  }
  for (Parameter* p : params)
    MLCORE_RETURN_IF_ERROR(comm_->Broadcast(p->value, 0, options_.timeout));
  for (Parameter* p : model.buffers()) {
    MLCORE_RETURN_IF_ERROR(comm_->Broadcast(p->value, 0, options_.timeout));
  }
  for (nn::Layer* layer : model.AllLayers()) {
    if (!IsSyncBatchNorm(*layer)) continue;
    MLCORE_RETURN_IF_ERROR(
        SetSyncBatchNormGroup(*layer, options_.sync_batchnorm ? comm_ : nullptr, options_.timeout));
  }
  internal::ReducerOptions ro;
  ro.first_bucket_bytes = options_.first_bucket_bytes;
  ro.bucket_bytes = options_.bucket_bytes;
  ro.timeout = options_.timeout;
  // Sequential layers write each gradient in place once per backward; a graph's shared layers
  // alias their gradients, which a view would split.
  ro.grads_as_bucket_views = model.kind() == "sequential";
  reducer_ = std::make_shared<internal::Reducer>(comm_, std::move(params), ro);
  reducer_->set_sync(sync_);
  model.set_gradient_sync(reducer_);
  prepared_ = &model;
  num_outputs_ = model.output_names().size();
  return absl::OkStatus();
}

Status DataParallel::OnFitBegin(nn::Model& model) { return Prepare(model); }

StatusOr<std::vector<int64_t>> DataParallel::EpochIndices(int epoch, int64_t num_samples,
                                                          bool shuffle, uint64_t seed) {
  MLCORE_ASSIGN_OR_RETURN(DistributedSampler sampler,
                          DistributedSampler::Create({.num_samples = num_samples,
                                                      .rank = rank(),
                                                      .world_size = world_size(),
                                                      .shuffle = shuffle,
                                                      .seed = seed,
                                                      .drop_last = options_.drop_last}));
  return sampler.Indices(epoch);
}

Status DataParallel::ReduceTotals(nn::EpochTotals& totals) {
  // Skipped steps are agreed by every rank already, so they stay as they are; the rest sums.
  const size_t k = num_outputs_ > 1 ? num_outputs_ : 0;
  totals.output_loss_sums.resize(k);
  totals.output_correct.resize(k);
  std::vector<double> v = {totals.loss_sum, static_cast<double>(totals.correct),
                           static_cast<double>(totals.seen)};
  for (size_t i = 0; i < k; ++i) {
    v.push_back(totals.output_loss_sums[i]);
    v.push_back(static_cast<double>(totals.output_correct[i]));
  }
  MLCORE_ASSIGN_OR_RETURN(Tensor t,
                          Tensor::FromVector<double>(v, {static_cast<int64_t>(v.size())}));
  MLCORE_RETURN_IF_ERROR(comm_->AllReduce(t, ReduceOp::kSum, options_.timeout));
  const auto* r = static_cast<const double*>(t.data());
  totals.loss_sum = r[0];
  totals.correct = static_cast<int64_t>(r[1]);
  totals.seen = static_cast<int64_t>(r[2]);
  for (size_t i = 0; i < k; ++i) {
    totals.output_loss_sums[i] = r[3 + 2 * i];
    totals.output_correct[i] = static_cast<int64_t>(r[4 + 2 * i]);
  }
  return absl::OkStatus();
}

StatusOr<nn::Logs> DataParallel::Evaluate(nn::Model& model, const nn::TensorList& x,
                                          const nn::TensorList& y, int64_t batch_size) {
  if (x.empty() || !x[0].defined() || x[0].dim() < 1) {
    return absl::InvalidArgumentError("DataParallel::Evaluate: inputs are required");
  }
  const int64_t n = x[0].shape()[0];
  const int w = world_size(), r = rank();
  if (n < w) {
    return absl::InvalidArgumentError("DataParallel::Evaluate: " + std::to_string(n) +
                                      " samples cannot be shared by " + std::to_string(w) +
                                      " ranks");
  }
  // A contiguous, disjoint share per rank: no sample counted twice.
  const int64_t begin = n * r / w, end = n * (r + 1) / w;
  nn::TensorList xs, ys;
  for (const Tensor& t : x) {
    MLCORE_ASSIGN_OR_RETURN(Tensor s, t.Slice(begin, end));
    xs.push_back(std::move(s));
  }
  for (const Tensor& t : y) {
    MLCORE_ASSIGN_OR_RETURN(Tensor s, t.Slice(begin, end));
    ys.push_back(std::move(s));
  }
  // Each rank's logs are means over its share: weighted by the share's size they sum to the
  // whole data's. Ranks agree on the keys (the same compiled model on every rank).
  StatusOr<nn::Logs> local = model.Evaluate(xs, ys, batch_size);
  std::vector<double> v;
  if (local.ok()) {
    for (const auto& [key, value] : *local) v.push_back(value * static_cast<double>(end - begin));
  }
  const int64_t keys = local.ok() ? static_cast<int64_t>(local->size()) : 0;
  v.push_back(static_cast<double>(end - begin));
  v.push_back(local.ok() ? 0.0 : 1.0);  // a rank's failure fails every rank
  MLCORE_ASSIGN_OR_RETURN(Tensor t, Tensor::FromVector<double>(v, {keys + 2}));
  MLCORE_RETURN_IF_ERROR(comm_->AllReduce(t, ReduceOp::kSum, options_.timeout));
  if (!local.ok()) return local.status();
  const auto* s = static_cast<const double*>(t.data());
  if (s[keys + 1] > 0) {
    return absl::AbortedError("DataParallel::Evaluate failed on another rank");
  }
  nn::Logs out;
  int64_t i = 0;
  for (const auto& [key, value] : *local) out[key] = s[i++] / s[keys];
  return out;
}

Status DataParallel::Save(const nn::Model& model, const std::string& dir) {
  Status written;
  if (rank() == 0) written = model.Save(dir);
  // The others wait here for rank 0, and learn whether it could write.
  MLCORE_ASSIGN_OR_RETURN(
      std::string error, BroadcastString(*comm_, std::string(written.message()), options_.timeout));
  if (rank() == 0) return written;
  if (!error.empty()) {
    return absl::AbortedError("DataParallel: rank 0 could not write checkpoint " + dir + ": " +
                              error);
  }
  return absl::OkStatus();
}

StatusOr<int> DataParallel::Resume(nn::Model& model, const std::string& dir) {
  if (!std::filesystem::exists(std::filesystem::path(dir) / "architecture.json")) return 0;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> saved, nn::LoadAnyModel(dir));
  if (!model.built()) {
    return absl::FailedPreconditionError("DataParallel::Resume: build the model first");
  }
  // Parameters and buffers by position (layer names may differ between processes).
  const std::vector<Parameter*> to = model.parameters(), from = saved->parameters();
  const std::vector<Parameter*> to_buf = model.buffers(), from_buf = saved->buffers();
  if (to.size() != from.size() || to_buf.size() != from_buf.size()) {
    return absl::InvalidArgumentError("DataParallel::Resume: checkpoint " + dir +
                                      " is for another architecture");
  }
  std::map<std::string, std::string> rename;
  for (size_t i = 0; i < to.size() + to_buf.size(); ++i) {
    Parameter* a = i < to.size() ? to[i] : to_buf[i - to.size()];
    const Parameter* b = i < to.size() ? from[i] : from_buf[i - to.size()];
    if (a->value.shape() != b->value.shape()) {
      return absl::InvalidArgumentError("DataParallel::Resume: checkpoint " + dir + " has '" +
                                        b->name + "' " + ShapeToString(b->value.shape()) +
                                        " where the model has '" + a->name + "' " +
                                        ShapeToString(a->value.shape()));
    }
    MLCORE_RETURN_IF_ERROR(a->value.CopyFrom(b->value));
    rename[b->name] = a->name;
  }
  if (model.optimizer() != nullptr && saved->optimizer() != nullptr) {
    // Optimizer slots are keyed "<parameter>/<slot>".
    std::map<std::string, Tensor> state;
    for (const auto& [key, value] : saved->optimizer()->State()) {
      const size_t slash = key.rfind('/');
      auto it = rename.find(key.substr(0, slash));
      state[it == rename.end() ? key : it->second + key.substr(slash)] = value;
    }
    MLCORE_RETURN_IF_ERROR(model.optimizer()->LoadState(state, saved->optimizer()->steps()));
  }
  return saved->epochs_trained();
}

StatusOr<nn::History> DataParallel::Fit(nn::Model& model, const nn::TensorList& x,
                                        const nn::TensorList& y, nn::FitOptions options,
                                        const std::string& checkpoint_dir) {
  options.strategy = std::shared_ptr<nn::FitStrategy>(this, [](nn::FitStrategy*) {});
  if (checkpoint_dir.empty()) return model.Fit(x, y, options);
  if (!model.built()) {
    // Build from the data's shape on every rank; Prepare then copies rank 0's weights.
    nn::TensorList first;
    for (const Tensor& t : x) {
      MLCORE_ASSIGN_OR_RETURN(Tensor row, t.Slice(0, 1));
      first.push_back(std::move(row));
    }
    MLCORE_RETURN_IF_ERROR(model.PredictAll(first, 1).status());
  }
  MLCORE_ASSIGN_OR_RETURN(int done, Resume(model, checkpoint_dir));
  options.initial_epoch = done;
  options.epochs = std::max(0, options.epochs - done);
  options.callbacks.push_back(std::make_shared<SaveEachEpoch>(this, checkpoint_dir));
  return model.Fit(x, y, options);
}

}  // namespace mlcore::dist

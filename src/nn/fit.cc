// The Keras-style loops shared by every Model: Fit (epochs of shuffled batches from tensors, or
// passes over a Dataset; validation; callbacks), Evaluate and Predict. In-memory batches are
// gathered into reusable buffers, so the tensor loop allocates per epoch only.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include "mlcore/nn/dataset.h"
#include "mlcore/nn/model.h"
#include "nn/bf16.h"
#include "nn/fit_epochs.h"
#include "nn/model_inputs.h"

namespace mlcore::nn {
namespace {

// Copies rows `index[begin, end)` of `src` into the first rows of `dst`.
StatusOr<Tensor> Gather(const Tensor& src, const std::vector<int64_t>& index, int64_t begin,
                        int64_t end, Tensor& dst) {
  const size_t row = src.nbytes() / static_cast<size_t>(src.shape()[0]);
  const auto* from = static_cast<const char*>(src.data());
  auto* to = static_cast<char*>(dst.data());
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(to + (i - begin) * row, from + index[i] * row, row);
  }
  return dst.Slice(0, end - begin);
}

Status CheckData(const char* what, const TensorList& x, const TensorList& y) {
  if (x.empty() || y.empty()) {
    return absl::InvalidArgumentError(std::string(what) + ": inputs and targets are required");
  }
  const Tensor& x0 = x[0];
  for (size_t i = 0; i < x.size() + y.size(); ++i) {
    const bool input = i < x.size();
    const Tensor& t = input ? x[i] : y[i - x.size()];
    const std::string name =
        input ? "input " + std::to_string(i) : "target " + std::to_string(i - x.size());
    if (!t.defined()) {
      return absl::InvalidArgumentError(std::string(what) + ": " + name + " is missing");
    }
    if (input && t.dtype() != DType::kFloat32 && t.dtype() != DType::kInt32 &&
        t.dtype() != DType::kInt64) {
      // Integer indices are fine for layers that take them (Embedding); the model checks each
      // input against the layer that consumes it.
      return absl::InvalidArgumentError(std::string(what) + ": " + name + " has dtype " +
                                        DTypeName(t.dtype()) +
                                        "; inputs must be float32, or int32/int64 indices");
    }
    if (!x0.defined() || t.dim() < 1 || x0.dim() < 1 || t.shape()[0] != x0.shape()[0]) {
      return absl::InvalidArgumentError(std::string(what) + ": inputs " +
                                        ShapeToString(x0.shape()) + " and " + name + " " +
                                        ShapeToString(t.shape()) + " differ in sample count");
    }
    if (!t.device().is_cpu()) {
      return absl::InvalidArgumentError(std::string(what) + ": data must be on the CPU (" + name +
                                        ")");
    }
  }
  return absl::OkStatus();
}

// The status of a failed step, prefixed with where it happened; keeps the TypeError marker (and
// any other payload) of the original.
Status AtBatch(const Status& status, int epoch, int64_t batch) {
  return WithPrefix(status,
                    "epoch " + std::to_string(epoch) + ", batch " + std::to_string(batch) + ": ");
}

StatusOr<TensorList> Slices(const TensorList& list, int64_t begin, int64_t end) {
  TensorList out;
  for (const Tensor& t : list) {
    MLCORE_ASSIGN_OR_RETURN(Tensor s, t.Slice(begin, end));
    out.push_back(std::move(s));
  }
  return out;
}

// FitOptions with its sample weights and validation data converted as the training data is
// (ModelInputs / ModelTargets for `loss`), and the validation data checked.
StatusOr<FitOptions> ConvertFitOptions(const FitOptions& in, const std::string& loss) {
  FitOptions options = in;
  MLCORE_ASSIGN_OR_RETURN(options.sample_weight, internal::SampleWeight(options.sample_weight));
  if (options.validation_x.defined()) {
    MLCORE_ASSIGN_OR_RETURN(TensorList vx, internal::ModelInputs({options.validation_x}));
    options.validation_x = vx[0];
  }
  if (options.validation_y.defined()) {
    MLCORE_ASSIGN_OR_RETURN(TensorList vy, internal::ModelTargets({options.validation_y}, loss));
    options.validation_y = vy[0];
  }
  MLCORE_ASSIGN_OR_RETURN(options.validation_inputs,
                          internal::ModelInputs(options.validation_inputs));
  MLCORE_ASSIGN_OR_RETURN(options.validation_targets,
                          internal::ModelTargets(options.validation_targets, loss));
  if (options.validation_x.defined() || options.validation_y.defined()) {
    MLCORE_RETURN_IF_ERROR(
        CheckData("Fit validation_data", {options.validation_x}, {options.validation_y}));
  } else if (!options.validation_inputs.empty() || !options.validation_targets.empty()) {
    MLCORE_RETURN_IF_ERROR(
        CheckData("Fit validation_data", options.validation_inputs, options.validation_targets));
  }
  return options;
}

// One reusable batch buffer of `rows` rows per tensor of `list`.
StatusOr<TensorList> BatchBuffers(const TensorList& list, int64_t rows) {
  TensorList out;
  for (const Tensor& src : list) {
    Shape shape = src.shape();
    shape[0] = rows;
    MLCORE_ASSIGN_OR_RETURN(Tensor buf, Tensor::Empty(shape, src.dtype()));
    out.push_back(std::move(buf));
  }
  return out;
}

}  // namespace

StatusOr<History> Model::Fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  if (!x.defined() || !y.defined()) {
    return absl::InvalidArgumentError("Fit: inputs and targets are required");
  }
  return Fit(TensorList{x}, TensorList{y}, options);
}

StatusOr<History> Model::TrainEpochs(const FitOptions& options,
                                     const std::function<StatusOr<EpochTotals>(int)>& run_epoch) {
  MLCORE_ASSIGN_OR_RETURN(Device device, ParseDevice(options.device));
  MLCORE_RETURN_IF_ERROR(To(device));
  if (options.strategy) MLCORE_RETURN_IF_ERROR(options.strategy->OnFitBegin(*this));
  int fit_bf16 = -1;
  if (!options.precision.empty()) {
    MLCORE_ASSIGN_OR_RETURN(internal::Precision p, internal::ParsePrecision(options.precision));
    fit_bf16 = p == internal::Precision::kBFloat16 ? 1 : 0;
  }
  // The override holds for this thread's passes until this Fit ends, however it returns.
  struct Restore {
    Model& model;
    int saved;
    std::thread::id saved_thread;
    ~Restore() {
      std::unique_lock<StateMutex> lock(model.state_mu_);
      model.fit_bf16_ = saved;
      model.fit_thread_ = saved_thread;
    }
  } restore{*this, fit_bf16_, fit_thread_};
  {
    std::unique_lock<StateMutex> lock(state_mu_);
    fit_bf16_ = fit_bf16;
    fit_thread_ = std::this_thread::get_id();
  }
  internal::ScopedFitEpochs fit_epochs(options.initial_epoch + options.epochs);
  for (auto& cb : options.callbacks) MLCORE_RETURN_IF_ERROR(cb->OnTrainBegin(*this));
  History history;
  for (int epoch = options.initial_epoch; epoch < options.initial_epoch + options.epochs; ++epoch) {
    MLCORE_ASSIGN_OR_RETURN(EpochTotals totals, run_epoch(epoch));
    if (options.strategy) MLCORE_RETURN_IF_ERROR(options.strategy->ReduceTotals(totals));
    bool stop = false;
    MLCORE_RETURN_IF_ERROR(EpochEnd(options, epoch, totals, history, &stop));
    if (stop) {
      history.stopped_early = true;
      break;
    }
  }
  for (auto& cb : options.callbacks) MLCORE_RETURN_IF_ERROR(cb->OnTrainEnd(*this));
  return history;
}

Status Model::EpochEnd(const FitOptions& options, int epoch, const EpochTotals& totals,
                       History& history, bool* stop) {
  Logs logs = totals.ToLogs(output_names(), want_accuracy_);
  {
    std::unique_lock<StateMutex> lock(state_mu_);
    skipped_steps_ += totals.skipped;
    epochs_trained_ = epoch + 1;
    if (compile_.on_non_finite == NonFinitePolicy::kSkipStep) {
      logs["skipped_steps"] = static_cast<double>(totals.skipped);
    }
    const double base = optimizer_->learning_rate();
    logs["lr"] =
        compile_.schedule ? compile_.schedule->LearningRate(optimizer_->steps(), base) : base;
  }
  if (options.validation_dataset) {
    MLCORE_ASSIGN_OR_RETURN(Logs val, EvaluateDataset(*options.validation_dataset));
    for (const auto& [key, value] : val) logs["val_" + key] = value;
  } else {
    TensorList vx = options.validation_inputs, vy = options.validation_targets;
    if (options.validation_x.defined() || options.validation_y.defined()) {
      vx = {options.validation_x};
      vy = {options.validation_y};
    }
    if (!vx.empty() || !vy.empty()) {
      MLCORE_ASSIGN_OR_RETURN(Logs val, EvaluateImpl(vx, vy, 256));
      for (const auto& [key, value] : val) logs["val_" + key] = value;
    }
  }
  for (const auto& [key, value] : logs) history.metrics[key].push_back(value);
  ++history.epochs_run;
  for (auto& cb : options.callbacks) {
    MLCORE_RETURN_IF_ERROR(cb->OnEpochEnd(*this, epoch, logs, stop));
  }
  return absl::OkStatus();
}

Status Model::BatchEnd(const FitOptions& options, int epoch, int64_t batch, int64_t batches,
                       const EpochTotals& totals) {
  Logs logs;
  for (auto& cb : options.callbacks) {
    if (!cb->WantsBatches()) continue;
    if (logs.empty()) logs = totals.ToLogs(output_names(), want_accuracy_);
    MLCORE_RETURN_IF_ERROR(cb->OnBatchEnd(*this, epoch, batch, batches, logs));
  }
  return absl::OkStatus();
}

StatusOr<History> Model::Fit(const TensorList& x_in, const TensorList& y_in,
                             const FitOptions& options_in) {
  std::lock_guard<std::recursive_mutex> training(training_mu_);
  MLCORE_RETURN_IF_ERROR(CheckCompiled("Fit"));
  // float64 features, uint8 labels, ... converted as the Python binding converts them.
  MLCORE_ASSIGN_OR_RETURN(const TensorList x, internal::ModelInputs(x_in));
  MLCORE_ASSIGN_OR_RETURN(const TensorList y, internal::ModelTargets(y_in, compile_.loss));
  MLCORE_RETURN_IF_ERROR(CheckData("Fit", x, y));
  MLCORE_ASSIGN_OR_RETURN(const FitOptions options, ConvertFitOptions(options_in, compile_.loss));
  if (options.epochs < 0 || options.batch_size <= 0) {
    return absl::InvalidArgumentError("Fit: epochs must be >= 0 and batch_size > 0");
  }
  const int64_t n = x[0].shape()[0];
  if (n == 0) {  // would train on nothing and report a nan loss
    return absl::InvalidArgumentError("Fit: the training data is empty (0 samples)");
  }
  // Checked whole up front so that a bad weight names its index in the data, not in a batch.
  MLCORE_RETURN_IF_ERROR(CheckSampleWeight("Fit", options.sample_weight, n));
  MLCORE_RETURN_IF_ERROR(CheckClassWeights("Fit", options.class_weight));
  {
    std::unique_lock<StateMutex> lock(state_mu_);
    MLCORE_RETURN_IF_ERROR(EnsureBuilt(x));
  }
  // Under a strategy this process trains on its share of the rows (the same count on every
  // rank), so the buffers are sized for that.
  int64_t rows = n;
  if (options.strategy) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<int64_t> share,
                            options.strategy->EpochIndices(0, n, options.shuffle, options.seed));
    rows = std::max<int64_t>(1, static_cast<int64_t>(share.size()));
  }
  const int64_t bs = std::min(options.batch_size, rows);
  Tensor wbuf;
  if (options.sample_weight.defined()) {
    MLCORE_ASSIGN_OR_RETURN(wbuf, Tensor::Empty({bs}, DType::kFloat32));
  }
  MLCORE_ASSIGN_OR_RETURN(TensorList xbuf, BatchBuffers(x, bs));
  MLCORE_ASSIGN_OR_RETURN(TensorList ybuf, BatchBuffers(y, bs));
  std::vector<int64_t> order(n);
  return TrainEpochs(options, [&](int epoch) -> StatusOr<EpochTotals> {
    if (options.strategy) {
      MLCORE_ASSIGN_OR_RETURN(
          order, options.strategy->EpochIndices(epoch, n, options.shuffle, options.seed));
    } else {
      std::iota(order.begin(), order.end(), 0);
      if (options.shuffle) {
        std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
        std::shuffle(order.begin(), order.end(), rng);
      }
    }
    const int64_t count = static_cast<int64_t>(order.size());
    EpochTotals totals;
    for (int64_t begin = 0; begin < count; begin += bs) {
      if (options.interrupt) MLCORE_RETURN_IF_ERROR(options.interrupt());
      const int64_t end = std::min(count, begin + bs);
      TensorList bx, by;
      for (size_t i = 0; i < x.size(); ++i) {
        MLCORE_ASSIGN_OR_RETURN(Tensor t, Gather(x[i], order, begin, end, xbuf[i]));
        bx.push_back(std::move(t));
      }
      for (size_t i = 0; i < y.size(); ++i) {
        MLCORE_ASSIGN_OR_RETURN(Tensor t, Gather(y[i], order, begin, end, ybuf[i]));
        by.push_back(std::move(t));
      }
      Tensor bw;
      if (wbuf.defined()) {
        MLCORE_ASSIGN_OR_RETURN(bw, Gather(options.sample_weight, order, begin, end, wbuf));
      }
      StatusOr<StepResult> step = TrainStep(bx, by, bw, options.class_weight);
      if (!step.ok()) return AtBatch(step.status(), epoch, begin / bs);
      totals.AddBatch(*step, end - begin);
      MLCORE_RETURN_IF_ERROR(BatchEnd(options, epoch, begin / bs, (n + bs - 1) / bs, totals));
    }
    return totals;
  });
}

StatusOr<History> Model::Fit(Dataset& data, const FitOptions& options) {
  std::lock_guard<std::recursive_mutex> training(training_mu_);
  MLCORE_RETURN_IF_ERROR(CheckCompiled("Fit"));
  if (!data.batched()) {
    return absl::FailedPreconditionError(
        "Fit: the Dataset yields single examples; call Batch(batch_size) on it first");
  }
  if (options.epochs < 0) return absl::InvalidArgumentError("Fit: epochs must be >= 0");
  if (options.sample_weight.defined()) {
    return absl::InvalidArgumentError(
        "Fit: sample_weight is for in-memory data (x, y); a Dataset fit does not take it");
  }
  MLCORE_RETURN_IF_ERROR(CheckClassWeights("Fit", options.class_weight));
  return TrainEpochs(options, [&](int epoch) -> StatusOr<EpochTotals> {
    EpochTotals totals;
    // Destroyed at the end of the pass, or on an error return: stops any prefetch thread.
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<DatasetIterator> it, data.MakeIterator(epoch));
    for (int64_t batch = 0;; ++batch) {
      if (options.interrupt) MLCORE_RETURN_IF_ERROR(options.interrupt());
      Element e;
      StatusOr<bool> more = it->Next(&e);
      if (!more.ok()) return AtBatch(more.status(), epoch, batch);
      if (!*more) break;
      MLCORE_ASSIGN_OR_RETURN(e.inputs, internal::ModelInputs(e.inputs));
      MLCORE_ASSIGN_OR_RETURN(e.targets, internal::ModelTargets(e.targets, compile_.loss));
      if (batch == 0) {
        Status checked = CheckData("Fit", e.inputs, e.targets);
        if (!checked.ok()) return AtBatch(checked, epoch, batch);
      }
      const int64_t rows = e.inputs.empty() ? 0 : e.inputs[0].shape()[0];
      StatusOr<StepResult> step = TrainStep(e.inputs, e.targets, Tensor(), options.class_weight);
      if (!step.ok()) return AtBatch(step.status(), epoch, batch);
      totals.AddBatch(*step, rows);
      MLCORE_RETURN_IF_ERROR(BatchEnd(options, epoch, batch, -1, totals));
    }
    return totals;
  });
}

StatusOr<Logs> Model::Evaluate(const Tensor& x, const Tensor& y, int64_t batch_size) {
  return Evaluate(TensorList{x}, TensorList{y}, batch_size);
}

Status Model::CheckCompiledShared(const char* what) const {
  std::shared_lock<StateMutex> lock(state_mu_);
  return CheckCompiled(what);
}

StatusOr<Logs> Model::Evaluate(const TensorList& x, const TensorList& y, int64_t batch_size) {
  return EvaluateWeighted(x, y, Tensor(), batch_size);
}

StatusOr<Logs> Model::EvaluateWeighted(const TensorList& x_in, const TensorList& y_in,
                                       const Tensor& weight_in, int64_t batch_size) {
  MLCORE_RETURN_IF_ERROR(CheckCompiledShared("Evaluate"));
  std::string loss;
  {
    std::shared_lock<StateMutex> lock(state_mu_);
    loss = compile_.loss;
  }
  MLCORE_ASSIGN_OR_RETURN(const TensorList x, internal::ModelInputs(x_in));
  MLCORE_ASSIGN_OR_RETURN(const TensorList y, internal::ModelTargets(y_in, loss));
  MLCORE_ASSIGN_OR_RETURN(const Tensor sample_weight, internal::SampleWeight(weight_in));
  MLCORE_RETURN_IF_ERROR(CheckData("Evaluate", x, y));
  if (!sample_weight.defined()) return EvaluateImpl(x, y, batch_size);
  MLCORE_RETURN_IF_ERROR(CheckSampleWeight("Evaluate", sample_weight, x[0].shape()[0]));
  return EvaluateImpl(x, y, batch_size, sample_weight);
}

StatusOr<Logs> Model::Evaluate(Dataset& data) {
  MLCORE_RETURN_IF_ERROR(CheckCompiledShared("Evaluate"));
  return EvaluateDataset(data);
}

StatusOr<Logs> Model::EvaluateDataset(Dataset& data) {
  if (!data.batched()) {
    return absl::FailedPreconditionError(
        "Evaluate: the Dataset yields single examples; call Batch(batch_size) on it first");
  }
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<DatasetIterator> it, data.MakeIterator(0));
  EpochTotals totals;
  for (int64_t batch = 0;; ++batch) {
    Element e;
    MLCORE_ASSIGN_OR_RETURN(bool more, it->Next(&e));
    if (!more) break;
    MLCORE_ASSIGN_OR_RETURN(e.inputs, internal::ModelInputs(e.inputs));
    MLCORE_ASSIGN_OR_RETURN(e.targets, internal::ModelTargets(e.targets, compile_options().loss));
    MLCORE_RETURN_IF_ERROR(CheckData("Evaluate", e.inputs, e.targets));
    MLCORE_RETURN_IF_ERROR(ReadyForInference(e.inputs));
    std::shared_lock<StateMutex> lock(state_mu_);
    MLCORE_ASSIGN_OR_RETURN(TensorList out, ForwardLocked(e.inputs, /*training=*/false));
    MLCORE_ASSIGN_OR_RETURN(StepResult r, LossOf(out, e.targets, nullptr));
    totals.AddBatch(r, e.inputs[0].shape()[0]);
  }
  return totals.ToLogs(output_names(), want_accuracy_);
}

StatusOr<Logs> Model::EvaluateImpl(const TensorList& x, const TensorList& y, int64_t batch_size,
                                   const Tensor& sample_weight) {
  if (batch_size <= 0) return absl::InvalidArgumentError("Evaluate: batch_size must be > 0");
  MLCORE_RETURN_IF_ERROR(ReadyForInference(x));
  std::shared_lock<StateMutex> lock(state_mu_);
  const int64_t n = x[0].shape()[0];
  EpochTotals totals;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    MLCORE_ASSIGN_OR_RETURN(TensorList bx, Slices(x, begin, end));
    MLCORE_ASSIGN_OR_RETURN(TensorList by, Slices(y, begin, end));
    Tensor bw;
    if (sample_weight.defined()) {
      MLCORE_ASSIGN_OR_RETURN(bw, sample_weight.Slice(begin, end));
    }
    MLCORE_ASSIGN_OR_RETURN(TensorList out, ForwardLocked(bx, /*training=*/false));
    MLCORE_ASSIGN_OR_RETURN(StepResult r, LossOf(out, by, nullptr, bw));
    totals.AddBatch(r, end - begin);
  }
  return totals.ToLogs(output_names(), want_accuracy_);
}

StatusOr<Tensor> Model::Predict(const Tensor& x, int64_t batch_size) {
  return Predict(TensorList{x}, batch_size);
}

StatusOr<Tensor> Model::Predict(const TensorList& x, int64_t batch_size) {
  if (output_names().size() != 1) {
    return absl::InvalidArgumentError("Predict: the model has " +
                                      std::to_string(output_names().size()) +
                                      " outputs; use PredictAll");
  }
  MLCORE_ASSIGN_OR_RETURN(TensorList out, PredictAll(x, batch_size));
  return out[0];
}

StatusOr<TensorList> Model::PredictAll(const TensorList& x_in, int64_t batch_size) {
  if (batch_size <= 0) return absl::InvalidArgumentError("Predict: batch_size must be > 0");
  MLCORE_ASSIGN_OR_RETURN(const TensorList x, internal::ModelInputs(x_in));
  MLCORE_RETURN_IF_ERROR(ReadyForInference(x));
  std::shared_lock<StateMutex> lock(state_mu_);
  const int64_t n = x[0].shape()[0];
  if (n == 0) return absl::InvalidArgumentError("Predict: no samples");
  TensorList result;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    MLCORE_ASSIGN_OR_RETURN(TensorList bx, Slices(x, begin, end));
    MLCORE_ASSIGN_OR_RETURN(TensorList outs, ForwardLocked(bx, /*training=*/false));
    for (size_t o = 0; o < outs.size(); ++o) {
      Tensor out = outs[o];
      if (!out.device().is_cpu()) {
        MLCORE_ASSIGN_OR_RETURN(out, out.To(Device::CPU()));
      }
      if (result.size() <= o) {
        if (begin == 0 && end == n) {
          bool shared = false;
          for (const Tensor& xi : x) shared = shared || out.SharesStorageWith(xi);
          if (shared) {
            MLCORE_ASSIGN_OR_RETURN(out, out.Clone());
          }
          result.push_back(out);
          continue;
        }
        Shape shape = out.shape();
        shape[0] = n;
        MLCORE_ASSIGN_OR_RETURN(Tensor full, Tensor::Empty(shape, out.dtype()));
        result.push_back(std::move(full));
      }
      if (begin == 0 && end == n) continue;
      MLCORE_ASSIGN_OR_RETURN(Tensor dst, result[o].Slice(begin, end));
      MLCORE_RETURN_IF_ERROR(dst.CopyFrom(out));
    }
  }
  return result;
}

}  // namespace mlcore::nn

// The Keras-style loops: Fit (epochs of shuffled batches, validation, callbacks), Evaluate and
// Predict. Batches are gathered into one reusable buffer, so the loop allocates per epoch only.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "mlcore/nn/sequential.h"

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

Status CheckData(const char* what, const Tensor& x, const Tensor& y) {
  if (!x.defined() || !y.defined()) {
    return absl::InvalidArgumentError(std::string(what) + ": inputs and targets are required");
  }
  if (x.dtype() != DType::kFloat32) {
    return TypeError(std::string(what) + ": inputs must be float32, got " + DTypeName(x.dtype()));
  }
  if (x.dim() < 1 || y.dim() < 1 || x.shape()[0] != y.shape()[0]) {
    return absl::InvalidArgumentError(std::string(what) + ": inputs " + ShapeToString(x.shape()) +
                                      " and targets " + ShapeToString(y.shape()) +
                                      " differ in sample count");
  }
  if (!x.device().is_cpu() || !y.device().is_cpu()) {
    return absl::InvalidArgumentError(std::string(what) + ": data must be on the CPU");
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<History> Sequential::Fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  if (!compiled()) return absl::FailedPreconditionError("Sequential: call Compile before Fit");
  MLCORE_ASSIGN_OR_RETURN(Device device, ParseDevice(options.device));
  MLCORE_RETURN_IF_ERROR(To(device));
  MLCORE_RETURN_IF_ERROR(CheckData("Fit", x, y));
  const bool validate = options.validation_x.defined() || options.validation_y.defined();
  if (validate) {
    MLCORE_RETURN_IF_ERROR(
        CheckData("Fit validation_data", options.validation_x, options.validation_y));
  }
  if (options.epochs < 0 || options.batch_size <= 0) {
    return absl::InvalidArgumentError("Fit: epochs must be >= 0 and batch_size > 0");
  }
  MLCORE_RETURN_IF_ERROR(EnsureBuilt(x));
  const int64_t n = x.shape()[0];
  const int64_t bs = std::min(options.batch_size, n);
  Shape xb_shape = x.shape(), yb_shape = y.shape();
  xb_shape[0] = yb_shape[0] = bs;
  MLCORE_ASSIGN_OR_RETURN(Tensor xb, Tensor::Empty(xb_shape, x.dtype()));
  MLCORE_ASSIGN_OR_RETURN(Tensor yb, Tensor::Empty(yb_shape, y.dtype()));
  std::vector<int64_t> order(n);

  for (auto& cb : options.callbacks) MLCORE_RETURN_IF_ERROR(cb->OnTrainBegin(*this));
  History history;
  for (int epoch = options.initial_epoch; epoch < options.initial_epoch + options.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    if (options.shuffle) {
      std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
      std::shuffle(order.begin(), order.end(), rng);
    }
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0, skipped = 0;
    for (int64_t begin = 0; begin < n; begin += bs) {
      const int64_t end = std::min(n, begin + bs);
      MLCORE_ASSIGN_OR_RETURN(Tensor bx, Gather(x, order, begin, end, xb));
      MLCORE_ASSIGN_OR_RETURN(Tensor by, Gather(y, order, begin, end, yb));
      StatusOr<StepResult> step = TrainStep(bx, by);
      if (!step.ok()) {
        Status where(step.status().code(), "epoch " + std::to_string(epoch) + ", batch " +
                                               std::to_string(begin / bs) + ": " +
                                               std::string(step.status().message()));
        // Keeps the TypeError marker (and any other payload) of the original status.
        step.status().ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
          where.SetPayload(url, payload);
        });
        return where;
      }
      if (!step->applied) {
        ++skipped;
        continue;
      }
      loss_sum += step->loss * static_cast<double>(end - begin);
      correct += step->correct;
      seen += end - begin;
    }
    skipped_steps_ += skipped;
    Logs logs;
    logs["loss"] = seen > 0 ? loss_sum / static_cast<double>(seen) : NAN;
    if (want_accuracy_) {
      logs["accuracy"] = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : NAN;
    }
    const double base = optimizer_->learning_rate();
    logs["lr"] =
        compile_.schedule ? compile_.schedule->LearningRate(optimizer_->steps(), base) : base;
    if (compile_.on_non_finite == NonFinitePolicy::kSkipStep) {
      logs["skipped_steps"] = static_cast<double>(skipped);
    }
    if (validate) {
      MLCORE_ASSIGN_OR_RETURN(Logs val,
                              EvaluateImpl(options.validation_x, options.validation_y, 256));
      for (const auto& [key, value] : val) logs["val_" + key] = value;
    }
    epochs_trained_ = epoch + 1;
    for (const auto& [key, value] : logs) history.metrics[key].push_back(value);
    ++history.epochs_run;
    bool stop = false;
    for (auto& cb : options.callbacks) {
      MLCORE_RETURN_IF_ERROR(cb->OnEpochEnd(*this, epoch, logs, &stop));
    }
    if (stop) {
      history.stopped_early = true;
      break;
    }
  }
  for (auto& cb : options.callbacks) MLCORE_RETURN_IF_ERROR(cb->OnTrainEnd(*this));
  return history;
}

StatusOr<Logs> Sequential::Evaluate(const Tensor& x, const Tensor& y, int64_t batch_size) {
  if (!compiled()) {
    return absl::FailedPreconditionError("Sequential: call Compile before Evaluate");
  }
  MLCORE_RETURN_IF_ERROR(CheckData("Evaluate", x, y));
  return EvaluateImpl(x, y, batch_size);
}

StatusOr<Logs> Sequential::EvaluateImpl(const Tensor& x, const Tensor& y, int64_t batch_size) {
  if (batch_size <= 0) return absl::InvalidArgumentError("Evaluate: batch_size must be > 0");
  const int64_t n = x.shape()[0];
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    MLCORE_ASSIGN_OR_RETURN(Tensor bx, x.Slice(begin, end));
    MLCORE_ASSIGN_OR_RETURN(Tensor by, y.Slice(begin, end));
    MLCORE_ASSIGN_OR_RETURN(Tensor out, Forward(bx, /*training=*/false));
    MLCORE_ASSIGN_OR_RETURN(double loss, loss_->Compute(out, by, nullptr));
    loss_sum += loss * static_cast<double>(end - begin);
    if (want_accuracy_) {
      MLCORE_ASSIGN_OR_RETURN(int64_t c, loss_->CountCorrect(out, by));
      correct += c;
    }
  }
  Logs logs;
  logs["loss"] = n > 0 ? loss_sum / static_cast<double>(n) : NAN;
  if (want_accuracy_) {
    logs["accuracy"] = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : NAN;
  }
  return logs;
}

StatusOr<Tensor> Sequential::Predict(const Tensor& x, int64_t batch_size) {
  if (batch_size <= 0) return absl::InvalidArgumentError("Predict: batch_size must be > 0");
  MLCORE_RETURN_IF_ERROR(EnsureBuilt(x));
  const int64_t n = x.shape()[0];
  if (n == 0) return absl::InvalidArgumentError("Predict: no samples");
  Tensor result;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    MLCORE_ASSIGN_OR_RETURN(Tensor bx, x.Slice(begin, end));
    MLCORE_ASSIGN_OR_RETURN(Tensor out, Forward(bx, /*training=*/false));
    if (!out.device().is_cpu()) {
      MLCORE_ASSIGN_OR_RETURN(out, out.To(Device::CPU()));
    }
    if (begin == 0 && end == n) return out.SharesStorageWith(x) ? out.Clone() : out;
    if (!result.defined()) {
      Shape shape = out.shape();
      shape[0] = n;
      MLCORE_ASSIGN_OR_RETURN(result, Tensor::Empty(shape, DType::kFloat32));
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor dst, result.Slice(begin, end));
    MLCORE_RETURN_IF_ERROR(dst.CopyFrom(out));
  }
  return result;
}

}  // namespace mlcore::nn

// The built-in callbacks. "Improvement" follows Keras: mode min or max, inferred from the
// monitored name when "auto".
#include <cmath>
#include <limits>
#include <ostream>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "mlcore/nn/callback.h"
#include "mlcore/nn/sequential.h"
#include "nn/fit_epochs.h"

namespace mlcore::nn {
namespace {

StatusOr<bool> ParseMode(const std::string& mode, const std::string& monitor) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  if (mode == "auto") return absl::StrContains(monitor, "acc");
  return absl::InvalidArgumentError("mode must be min, max or auto, got '" + mode + "'");
}

StatusOr<double> Lookup(const Logs& logs, const std::string& monitor) {
  auto it = logs.find(monitor);
  if (it != logs.end()) return it->second;
  std::vector<std::string> keys;
  for (const auto& [k, v] : logs) keys.push_back(k);
  return absl::NotFoundError("monitored value '" + monitor + "' is not in the logs (" +
                             absl::StrJoin(keys, ", ") +
                             "); pass validation data for val_* values");
}

// Tracks the best value of a monitored quantity.
struct Best {
  bool maximize = false;
  double min_delta = 0.0;
  double value = std::numeric_limits<double>::quiet_NaN();
  bool Improves(double v) const {
    if (std::isnan(v)) return false;
    if (std::isnan(value)) return true;
    return maximize ? v > value + min_delta : v < value - min_delta;
  }
};

class EarlyStoppingCallback : public Callback {
 public:
  EarlyStoppingCallback(EarlyStoppingOptions o, bool maximize) : o_(std::move(o)) {
    best_.maximize = maximize;
    best_.min_delta = o_.min_delta;
  }
  Status OnTrainBegin(Model&) override {
    best_.value = std::numeric_limits<double>::quiet_NaN();
    waited_ = 0;
    return absl::OkStatus();
  }
  Status OnEpochEnd(Model& model, int epoch, const Logs& logs, bool* stop) override {
    MLCORE_ASSIGN_OR_RETURN(double v, Lookup(logs, o_.monitor));
    if (best_.Improves(v)) {
      best_.value = v;
      waited_ = 0;
      if (o_.restore_best_weights) {
        best_weights_.clear();
        for (Parameter* p : model.parameters()) {
          MLCORE_ASSIGN_OR_RETURN(Tensor copy, p->value.Clone());
          best_weights_.push_back(std::move(copy));
        }
      }
      return absl::OkStatus();
    }
    if (++waited_ >= o_.patience) {
      *stop = true;
      if (o_.restore_best_weights && !best_weights_.empty()) {
        std::vector<Parameter*> params = model.parameters();
        for (size_t i = 0; i < params.size(); ++i) {
          MLCORE_RETURN_IF_ERROR(params[i]->value.CopyFrom(best_weights_[i]));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  EarlyStoppingOptions o_;
  Best best_;
  int waited_ = 0;
  std::vector<Tensor> best_weights_;
};

class CheckpointCallback : public Callback {
 public:
  CheckpointCallback(CheckpointOptions o, bool maximize) : o_(std::move(o)) {
    best_.maximize = maximize;
  }
  Status OnEpochEnd(Model& model, int epoch, const Logs& logs, bool*) override {
    if (o_.save_best_only) {
      MLCORE_ASSIGN_OR_RETURN(double v, Lookup(logs, o_.monitor));
      if (!best_.Improves(v)) return absl::OkStatus();
      best_.value = v;
    }
    return model.Save(o_.directory);
  }

 private:
  CheckpointOptions o_;
  Best best_;
};

class ProgressCallback : public Callback {
 public:
  ProgressCallback(std::ostream* out, int epochs) : out_(out), given_(epochs), epochs_(epochs) {}
  Status OnTrainBegin(Model&) override {
    epochs_ = given_ > 0 ? given_ : internal::CurrentFitEpochs();
    return absl::OkStatus();
  }
  Status OnEpochEnd(Model&, int epoch, const Logs& logs, bool*) override {
    std::string line = "epoch " + std::to_string(epoch + 1);
    if (epochs_ > 0) line += "/" + std::to_string(epochs_);
    for (const auto& [k, v] : logs) line += absl::StrFormat(" - %s %.4g", k, v);
    *out_ << line << std::endl;
    return absl::OkStatus();
  }

 private:
  std::ostream* out_;
  int given_;
  int epochs_;
};

class ReporterCallback : public Callback {
 public:
  ReporterCallback(std::string monitor, ReportFn fn)
      : monitor_(std::move(monitor)), fn_(std::move(fn)) {}
  Status OnEpochEnd(Model&, int epoch, const Logs& logs, bool* stop) override {
    MLCORE_ASSIGN_OR_RETURN(double v, Lookup(logs, monitor_));
    MLCORE_ASSIGN_OR_RETURN(bool s, fn_(v, epoch));
    if (s) *stop = true;
    return absl::OkStatus();
  }

 private:
  std::string monitor_;
  ReportFn fn_;
};

class Lambda : public Callback {
 public:
  Lambda(EpochFn fn, BatchFn on_batch) : fn_(std::move(fn)), on_batch_(std::move(on_batch)) {}
  Status OnEpochEnd(Model&, int epoch, const Logs& logs, bool* stop) override {
    if (!fn_) return absl::OkStatus();
    MLCORE_ASSIGN_OR_RETURN(bool s, fn_(epoch, logs));
    if (s) *stop = true;
    return absl::OkStatus();
  }
  bool WantsBatches() const override { return on_batch_ != nullptr; }
  Status OnBatchEnd(Model&, int epoch, int64_t batch, int64_t batches, const Logs& logs) override {
    return on_batch_(epoch, batch, batches, logs);
  }

 private:
  EpochFn fn_;
  BatchFn on_batch_;
};

}  // namespace

StatusOr<std::shared_ptr<Callback>> EarlyStopping(EarlyStoppingOptions options) {
  MLCORE_ASSIGN_OR_RETURN(bool maximize, ParseMode(options.mode, options.monitor));
  if (options.patience < 1) return absl::InvalidArgumentError("EarlyStopping: patience >= 1");
  return std::shared_ptr<Callback>(
      std::make_shared<EarlyStoppingCallback>(std::move(options), maximize));
}

StatusOr<std::shared_ptr<Callback>> ModelCheckpoint(CheckpointOptions options) {
  if (options.directory.empty()) {
    return absl::InvalidArgumentError("ModelCheckpoint: a directory is required");
  }
  MLCORE_ASSIGN_OR_RETURN(bool maximize, ParseMode(options.mode, options.monitor));
  return std::shared_ptr<Callback>(
      std::make_shared<CheckpointCallback>(std::move(options), maximize));
}

namespace internal {
namespace {
thread_local int fit_epochs = 0;
}  // namespace

int CurrentFitEpochs() { return fit_epochs; }
ScopedFitEpochs::ScopedFitEpochs(int epochs) : previous_(fit_epochs) { fit_epochs = epochs; }
ScopedFitEpochs::~ScopedFitEpochs() { fit_epochs = previous_; }
}  // namespace internal

std::shared_ptr<Callback> ProgressLogger(std::ostream* out, int epochs) {
  return std::make_shared<ProgressCallback>(out, epochs);
}

std::shared_ptr<Callback> Reporter(std::string monitor, ReportFn report) {
  return std::make_shared<ReporterCallback>(std::move(monitor), std::move(report));
}

std::shared_ptr<Callback> LambdaCallback(EpochFn fn, BatchFn on_batch) {
  return std::make_shared<Lambda>(std::move(fn), std::move(on_batch));
}

}  // namespace mlcore::nn

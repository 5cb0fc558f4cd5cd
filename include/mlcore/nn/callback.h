// Callbacks watch training epoch by epoch and may stop it. They see the logs Keras users know
// ("loss", "accuracy", "val_loss", "val_accuracy", "lr"), so early stopping, checkpointing, a
// progress line and an HPO trial reporter are all the same small interface.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "mlcore/core/status.h"

namespace mlcore::nn {

class Model;
using Logs = std::map<std::string, double>;

class Callback {
 public:
  virtual ~Callback() = default;
  virtual Status OnTrainBegin(Model& model) { return absl::OkStatus(); }
  // After epoch `epoch` (0-based) with that epoch's logs. Setting *stop ends training after
  // this epoch; a non-OK status aborts Fit with that status.
  virtual Status OnEpochEnd(Model& model, int epoch, const Logs& logs, bool* stop) = 0;
  virtual Status OnTrainEnd(Model& model) { return absl::OkStatus(); }
  // Only callbacks that say so see batches (a progress bar with an ETA): Fit then calls
  // OnBatchEnd after each training batch with the epoch's running logs ("loss", "accuracy"
  // averaged over the batches so far), the batch number (0-based) and the epoch's batch count
  // (-1 when unknown: a Dataset). Others cost nothing per batch.
  virtual bool WantsBatches() const { return false; }
  virtual Status OnBatchEnd(Model& model, int epoch, int64_t batch, int64_t batches,
                            const Logs& logs) {
    return absl::OkStatus();
  }
};

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  // Epochs without improvement before stopping.
  int patience = 3;
  // Smallest change that counts as an improvement.
  double min_delta = 0.0;
  // "min", "max", or "auto" (max for names containing "acc", else min).
  std::string mode = "auto";
  // Put back the weights of the best epoch when stopping (costs one copy of the weights).
  bool restore_best_weights = false;
};
StatusOr<std::shared_ptr<Callback>> EarlyStopping(EarlyStoppingOptions options = {});

struct CheckpointOptions {
  // Saved with Model::Save after each epoch (atomically replacing the previous one).
  std::string directory;
  std::string monitor = "val_loss";
  // Save only when `monitor` improves (mode as for EarlyStopping).
  bool save_best_only = false;
  std::string mode = "auto";
};
StatusOr<std::shared_ptr<Callback>> ModelCheckpoint(CheckpointOptions options);

// One line per epoch on `out`: "epoch 3/10 - accuracy 0.965 - loss 0.1234 - ...", the count
// being `epochs` when > 0 and otherwise the Fit's own (initial_epoch + epochs).
std::shared_ptr<Callback> ProgressLogger(std::ostream* out, int epochs = 0);

// Reports logs[monitor] each epoch to `report(value, epoch)`, which returns true to stop
// training (an HPO trial being pruned). A missing monitor is a NotFound error naming the keys.
using ReportFn = std::function<StatusOr<bool>(double value, int epoch)>;
std::shared_ptr<Callback> Reporter(std::string monitor, ReportFn report);

// Any function of the logs; returns true to stop. With `on_batch` (not null) it also sees every
// training batch, as Callback::OnBatchEnd describes.
using EpochFn = std::function<StatusOr<bool>(int epoch, const Logs& logs)>;
using BatchFn = std::function<Status(int epoch, int64_t batch, int64_t batches, const Logs& logs)>;
std::shared_ptr<Callback> LambdaCallback(EpochFn fn, BatchFn on_batch = nullptr);

}  // namespace mlcore::nn

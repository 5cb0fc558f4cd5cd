// Scalars (loss, metrics, learning rate) as TensorBoard event files, so that `tensorboard
// --logdir` and Kubeflow's TensorBoard integration show mlcore training without TensorFlow or
// protobuf: the few Event/Summary fields needed are encoded by hand and framed as TFRecords.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "mlcore/core/status.h"
#include "mlcore/nn/callback.h"

namespace mlcore::nn {

class SummaryWriter {
 public:
  // Creates `log_dir` when missing and a new events.out.tfevents.<time>.<host>.<pid> file in
  // it, starting with the file_version record TensorBoard expects.
  static StatusOr<std::unique_ptr<SummaryWriter>> Open(const std::string& log_dir);
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // One scalar event (wall time now). Buffered; Flush or destruction writes it out.
  Status AddScalar(const std::string& tag, double value, int64_t step);
  Status Flush();
  const std::string& path() const { return path_; }

 private:
  SummaryWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  Status WriteRecord(const std::string& event);
  std::string path_;
  std::FILE* file_;
};

// Writes each epoch's logs as scalars, step = epoch, flushing after each epoch, laid out as
// Keras does: training values in the run <log_dir>/train as "epoch_<key>" ("epoch_loss",
// "epoch_accuracy", "epoch_lr"), validation values in the run <log_dir>/validation under the
// same tags without the "val_" prefix ("val_loss" -> "epoch_loss"), so the curves overlay.
StatusOr<std::shared_ptr<Callback>> TensorBoard(const std::string& log_dir);

}  // namespace mlcore::nn

// A Sequential model: layers applied in order, trained with the Keras vocabulary (Compile, Fit,
// Evaluate, Predict). Beside the loop it exposes the pieces a custom trainer needs (Forward,
// Backward with a per-parameter gradient hook, TrainStep), which is what the data-parallel
// trainer builds on. Save/Load write safetensors weights with the architecture as JSON.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/tensor.h"
#include "mlcore/nn/callback.h"
#include "mlcore/nn/layer.h"
#include "mlcore/nn/loss.h"
#include "mlcore/optim/optimizer.h"
#include "mlcore/optim/schedule.h"

namespace mlcore::nn {

// What to do when a batch's loss (or gradient norm) is NaN or infinite.
enum class NonFinitePolicy {
  kStop,      // Fit fails with FailedPrecondition naming the epoch and batch
  kSkipStep,  // the batch is dropped (no update) and counted in logs["skipped_steps"]
};

struct CompileOptions {
  std::shared_ptr<optim::Optimizer> optimizer;  // required
  std::string loss = "cross_entropy";           // see MakeLoss
  std::vector<std::string> metrics;             // "accuracy"
  std::shared_ptr<optim::LRSchedule> schedule;  // null: constant learning rate
  // > 0 clips the global gradient norm to this value before each step.
  double clip_grad_norm = 0.0;
  NonFinitePolicy on_non_finite = NonFinitePolicy::kStop;
};

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;
  // Reshuffle the samples every epoch with a generator seeded from `seed` and the epoch, so a
  // run repeats exactly and resuming at an epoch sees the same order.
  bool shuffle = true;
  uint64_t seed = 0;
  // Optional; when defined, val_loss and val_<metric> are logged each epoch.
  Tensor validation_x;
  Tensor validation_y;
  std::vector<std::shared_ptr<Callback>> callbacks;
  // "cpu", "cuda" or "cuda:N": the model moves there (see Sequential::To) and stays.
  std::string device = "cpu";
  // First epoch number (to continue a loaded checkpoint's count).
  int initial_epoch = 0;
};

struct History {
  // Per-epoch values by name: "loss", "accuracy", "val_loss", "val_accuracy", "lr".
  std::map<std::string, std::vector<double>> metrics;
  int epochs_run = 0;
  bool stopped_early = false;
};

struct StepResult {
  double loss = 0.0;
  int64_t correct = 0;
  bool applied = true;  // false when the step was skipped for a non-finite loss
};

class Sequential;
StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir);

class Sequential {
 public:
  // Adds the layers in order; an error (a null or repeated layer) is returned by Build.
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers = {});

  // Appends a layer; names it "<type>_<index>" when it has no name. Not after Build.
  Status Add(std::shared_ptr<Layer> layer);
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }

  // Builds every layer for per-sample input shape `input_shape` (e.g. {64}). Fit and Predict
  // build on first use from their data; `seed` makes the initial weights repeatable.
  Status Build(const Shape& input_shape, uint64_t seed = 0);
  bool built() const { return built_; }
  const Shape& input_shape() const { return input_shape_; }
  std::vector<Parameter*> parameters();
  int64_t NumParameters();

  // Moves the parameters (and, as it steps, the optimizer state) to `device`. Fit does this for
  // its `device`; inputs are copied to the model's device batch by batch and Predict returns
  // host tensors. FailedPrecondition naming the reason when no CUDA device is usable, and
  // InvalidArgument naming the first layer without a CUDA implementation (Softmax).
  Status To(Device device);
  Device device() const { return device_; }

  Status Compile(CompileOptions options);
  bool compiled() const { return optimizer_ != nullptr; }
  const CompileOptions& compile_options() const { return compile_; }
  const std::shared_ptr<optim::Optimizer>& optimizer() const { return optimizer_; }

  StatusOr<History> Fit(const Tensor& x, const Tensor& y, const FitOptions& options);
  // Mean loss and metrics over (x, y) without updating anything.
  StatusOr<Logs> Evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 256);
  // The model's outputs (logits for classifiers) for x, in batches.
  StatusOr<Tensor> Predict(const Tensor& x, int64_t batch_size = 256);

  // Building blocks for custom training loops.
  StatusOr<Tensor> Forward(const Tensor& x, bool training);
  // Backpropagates d(loss)/d(output) through the last training Forward, calling the hook for
  // each parameter as its gradient becomes ready (last layer first).
  Status Backward(const Tensor& grad_output);
  void SetGradReadyHook(GradReadyHook hook) { hook_ = std::move(hook); }
  // Forward, loss, Backward, clipping and one optimizer step on one batch. Needs Compile.
  StatusOr<StepResult> TrainStep(const Tensor& x, const Tensor& y);

  // Writes <dir>/model.safetensors, <dir>/architecture.json and, when compiled,
  // <dir>/optimizer.safetensors and <dir>/training_state.json. The directory is replaced
  // atomically: readers see the old checkpoint or the new one, never a mix.
  Status Save(const std::string& dir) const;
  // Loads weights saved from a model of the same architecture into this one. Everything is
  // checked before anything is assigned: on error the model is unchanged.
  Status LoadWeights(const std::string& dir);
  // Epoch count saved by the last Save after Fit (0 when none).
  int epochs_trained() const { return epochs_trained_; }

 private:
  friend StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir);
  static StatusOr<std::unique_ptr<Sequential>> LoadModelImpl(const std::string& dir);
  Status LoadWeightsImpl(const std::string& dir);
  Status EnsureBuilt(const Tensor& x);
  StatusOr<Logs> EvaluateImpl(const Tensor& x, const Tensor& y, int64_t batch_size);

  std::vector<std::shared_ptr<Layer>> layers_;
  Status init_status_;
  Device device_ = Device::CPU();
  bool built_ = false;
  Shape input_shape_;
  CompileOptions compile_;
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::shared_ptr<Loss> loss_;
  bool want_accuracy_ = false;
  GradReadyHook hook_;
  int epochs_trained_ = 0;
  int64_t skipped_steps_ = 0;
};

// Rebuilds a model saved by Sequential::Save: architecture, weights and, when saved, the
// optimizer (with its state), loss, metrics and epoch count, ready to predict or continue Fit.
StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir);

}  // namespace mlcore::nn

// Model is what Sequential and GraphModel share: compile, the training loop (Fit over tensors
// or a Dataset), Evaluate, Predict, device placement and the gradient-sync point. A subclass
// only says how its layers are built and how values flow forward and gradients back, so every
// trainer (Fit, the data-parallel one, custom loops) works for every kind of model. Inputs and
// targets are lists: one tensor per model input and per model output.
//
// Threads: inference on a model (Predict, PredictAll, Evaluate, ForwardAll with
// training=false) may run from any number of threads at once; it only reads the model. Training
// calls (Fit, TrainStep, Compile, To) are serialised: one thread trains at a time and another
// thread's training call waits until it ends (the training thread itself may call back in, from
// a callback, say). While a training step or a device move runs, inference waits for it, so a
// prediction sees the weights between two steps, never half of one. Between the steps of a Fit
// inference proceeds. ForwardAll(training=true) and BackwardAll each hold the model for their
// call only: a custom loop that must not interleave with other threads serialises itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/core/tensor.h"
#include "mlcore/nn/callback.h"
#include "mlcore/nn/gradient_sync.h"
#include "mlcore/nn/layer.h"
#include "mlcore/nn/loss.h"
#include "mlcore/nn/signature.h"
#include "mlcore/optim/optimizer.h"
#include "mlcore/optim/schedule.h"

namespace mlcore::nn {

class Dataset;
class FitStrategy;
using TensorList = std::vector<Tensor>;
// Keras's class_weight: class id -> weight; a class not in the map weighs 1.
using ClassWeights = std::map<int64_t, double>;

// What to do when a batch's loss (or gradient norm) is NaN or infinite. With a GradientSync the
// loss's verdict is the group's (StepContext::non_finite), so every rank acts alike.
enum class NonFinitePolicy {
  kStop,      // Fit fails with FailedPrecondition naming the epoch and batch
  kSkipStep,  // the batch is dropped (no update) and counted in logs["skipped_steps"]
};

struct CompileOptions {
  std::shared_ptr<optim::Optimizer> optimizer;  // required
  // See MakeLoss. With several outputs the same loss applies to each and the total is their
  // weighted sum (loss_weights, default all 1).
  std::string loss = "cross_entropy";
  std::vector<std::string> metrics;             // see MakeMetric: "accuracy"
  std::shared_ptr<optim::LRSchedule> schedule;  // null: constant learning rate
  // > 0 clips the global gradient norm to this value before each step.
  double clip_grad_norm = 0.0;
  NonFinitePolicy on_non_finite = NonFinitePolicy::kStop;
  // One weight per model output (empty: all 1).
  std::vector<double> loss_weights;
};

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;
  // Reshuffle the samples every epoch with a generator seeded from `seed` and the epoch, so a
  // run repeats exactly and resuming at an epoch sees the same order. (Datasets shuffle
  // themselves: see Dataset::Shuffle.)
  bool shuffle = true;
  uint64_t seed = 0;
  // Optional; when defined, val_loss and val_<metric> are logged each epoch. A single-input,
  // single-output model may use validation_x/y; any model may use validation_inputs/targets
  // or a batched validation Dataset.
  Tensor validation_x;
  Tensor validation_y;
  TensorList validation_inputs;
  TensorList validation_targets;
  std::shared_ptr<Dataset> validation_dataset;
  std::vector<std::shared_ptr<Callback>> callbacks;
  // "cpu", "cuda" or "cuda:N": the model moves there (see Model::To) and stays.
  std::string device = "cpu";
  // Matrix-product precision of this Fit's training and validation passes, overriding the
  // model's (Model::set_precision) for this call only: "float32" or "bf16". Empty (the
  // default): the model's precision, float32 unless set.
  std::string precision;
  // First epoch number (to continue a loaded checkpoint's count).
  int initial_epoch = 0;
  // Keras's sample_weight: float32 [N] on the CPU, one finite weight >= 0 per training sample
  // (undefined: all 1). Each batch's loss is sum(w_i * loss_i) / batch_size (Keras's default
  // reduction "sum_over_batch_size"), so gradients scale with w_i; a weight of 0 takes a sample
  // out of the loss. Metrics (accuracy) stay unweighted, as Keras reports them. With several
  // outputs the same weight applies to each. In-memory Fit only (a Dataset fit rejects it).
  Tensor sample_weight;
  // Keras's class_weight for a single-output model compiled with cross_entropy (keys are class
  // ids in [0, classes)) or binary_cross_entropy (keys 0 and 1; a sample's class is its target
  // rounded, and its target must be one value per sample). Each sample's weight is multiplied
  // by its class's; with sample_weight the two multiply. Weights finite and >= 0.
  ClassWeights class_weight;
  // Training spread over several processes (mlcore::dist::DataParallel), or null: this process
  // alone. See FitStrategy.
  std::shared_ptr<FitStrategy> strategy;
  // Polled before each training batch (empty: never): a non-OK status stops Fit there and is
  // returned. The Python binding stops on Ctrl-C with it.
  std::function<Status()> interrupt;
};

struct History {
  // Per-epoch values by name: "loss", "accuracy", "val_loss", "val_accuracy", "lr"; with
  // several outputs also "<output>_loss" and "<output>_accuracy" per output.
  std::map<std::string, std::vector<double>> metrics;
  int epochs_run = 0;
  bool stopped_early = false;
};

struct StepResult {
  double loss = 0.0;    // the weighted total over outputs
  int64_t correct = 0;  // first output's correct count (single-output models: the only one)
  bool applied = true;  // false when the step was skipped for a non-finite loss
  std::vector<double> output_losses;    // per output, unweighted
  std::vector<int64_t> output_correct;  // per output (when the accuracy metric is on)
};

// Adds the per-batch numbers of one step (StepResult) into per-epoch sums, and turns them into
// logs ("loss", "accuracy", per output "<name>_loss"...).
struct EpochTotals {
  double loss_sum = 0.0;
  int64_t correct = 0, seen = 0, skipped = 0;
  std::vector<double> output_loss_sums;
  std::vector<int64_t> output_correct;
  void AddBatch(const StepResult& step, int64_t batch);
  Logs ToLogs(const std::vector<std::string>& output_names, bool accuracy) const;
};

// What a distributed strategy changes in Fit, so that Fit itself stays one loop: the strategy
// prepares the model once (checks that every rank built the same one, copies rank 0's weights,
// installs its GradientSync), picks this process's share of in-memory data each epoch, and
// turns this process's epoch totals into the group's, so every rank logs (and stops early on)
// the same numbers. OnFitBegin and ReduceTotals are collective: all ranks make them in order.
class FitStrategy {
 public:
  virtual ~FitStrategy() = default;
  // Once per Fit, with the model built (in-memory data) and on its device, before the first step.
  virtual Status OnFitBegin(Model& model) = 0;
  // The rows of in-memory data (num_samples of them) this process trains on in `epoch`, in
  // order; the same count on every rank. `shuffle` and `seed` are the FitOptions'.
  virtual StatusOr<std::vector<int64_t>> EpochIndices(int epoch, int64_t num_samples, bool shuffle,
                                                      uint64_t seed) = 0;
  // Replaces this process's totals of an epoch with the group's.
  virtual Status ReduceTotals(EpochTotals& totals) = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  // "sequential" or "graph".
  virtual std::string kind() const = 0;
  virtual size_t num_inputs() const = 0;
  // Output names, used as log prefixes when there are several ("<name>_loss").
  virtual std::vector<std::string> output_names() const = 0;
  // Every layer of the model once, in execution order.
  virtual std::vector<Layer*> AllLayers() const = 0;
  virtual bool built() const = 0;
  // Builds for one per-sample shape per input (no batch axis); `seed` makes the initial
  // weights repeatable. Fit and Predict build on first use from their data.
  virtual Status BuildFor(const std::vector<Shape>& input_shapes, uint64_t seed = 0) = 0;
  // Trainable parameters in a fixed order; buffers (BatchNorm statistics) beside them.
  std::vector<Parameter*> parameters() const;
  std::vector<Parameter*> buffers() const;
  int64_t NumParameters() const;

  // Moves the parameters (and, as it steps, the optimizer state) to `device`. Fit does this for
  // its `device`; inputs are copied to the model's device batch by batch and Predict returns
  // host tensors. FailedPrecondition naming the reason when no CUDA device is usable, and
  // InvalidArgument naming the first layer (or graph node) without a CUDA implementation.
  Status To(Device device);
  Device device() const { return device_; }

  // Matrix-product precision of every pass of this model (Fit, Evaluate, Predict, ForwardAll,
  // BackwardAll, TrainStep): "float32" (the default) or "bf16" (also "bfloat16"), where Dense,
  // Conv2d and Attend multiply bf16-rounded operands with float32 accumulation while weights,
  // gradients, optimiser state, activations and losses stay float32 (no loss scaling: bf16
  // keeps float32's exponent range). On CUDA that runs on tensor cores; on the CPU it is an
  // exact emulation of the rounding, for tests, not for speed. Like the device, it is how the
  // model runs, not what it is: checkpoints hold float32 weights either way and neither save
  // nor restore it (a loaded model computes in float32). InvalidArgument for another name.
  Status set_precision(const std::string& precision);
  std::string precision() const { return bf16_ ? "bf16" : "float32"; }

  Status Compile(CompileOptions options);
  bool compiled() const { return optimizer_ != nullptr; }
  const CompileOptions& compile_options() const { return compile_; }
  const std::shared_ptr<optim::Optimizer>& optimizer() const { return optimizer_; }

  // Trains on in-memory data: x and y hold one tensor per model input / output, all with the
  // same sample count on axis 0. The single-tensor overload is for one input and one output.
  StatusOr<History> Fit(const TensorList& x, const TensorList& y, const FitOptions& options);
  StatusOr<History> Fit(const Tensor& x, const Tensor& y, const FitOptions& options);
  // Trains on a batched Dataset (see dataset.h), one pass per epoch; batch_size and shuffle of
  // `options` are ignored (the Dataset does both). Iteration stops cleanly (a prefetching
  // thread included) when training stops early or fails.
  StatusOr<History> Fit(Dataset& data, const FitOptions& options);

  // Mean loss and metrics without updating anything.
  StatusOr<Logs> Evaluate(const TensorList& x, const TensorList& y, int64_t batch_size = 256);
  StatusOr<Logs> Evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 256);
  // With Keras's sample_weight (float32 [N], see FitOptions::sample_weight; undefined: all 1):
  // "loss" is sum(w_i * loss_i) / N, metrics are unweighted.
  StatusOr<Logs> EvaluateWeighted(const TensorList& x, const TensorList& y,
                                  const Tensor& sample_weight, int64_t batch_size = 256);
  StatusOr<Logs> Evaluate(Dataset& data);
  // The model's outputs (logits for classifiers), one tensor per output, in batches.
  StatusOr<TensorList> PredictAll(const TensorList& x, int64_t batch_size = 256);
  // The single output of a model with one output.
  StatusOr<Tensor> Predict(const TensorList& x, int64_t batch_size = 256);
  StatusOr<Tensor> Predict(const Tensor& x, int64_t batch_size = 256);

  // Building blocks for custom training loops: one tensor per input / output.
  StatusOr<TensorList> ForwardAll(const TensorList& x, bool training);
  // Backpropagates d(loss)/d(output) (one per output) through the last training ForwardAll,
  // reporting each parameter to the gradient sync (when set) as soon as its gradient is final.
  Status BackwardAll(const TensorList& grad_outputs);
  // The gradient-sync point of every training step (see gradient_sync.h); null (the default):
  // gradients are applied as computed. Replaces any SetGradReadyHook.
  void set_gradient_sync(std::shared_ptr<GradientSync> sync);
  std::shared_ptr<GradientSync> gradient_sync() const;
  // A custom loop's call between BackwardAll and its optimizer step: the sync's Finish (which
  // may set step.non_finite for the group), or nothing without a sync.
  Status FinishGradients(StepContext& step);
  // Calls `hook` for each parameter as its gradient becomes final: a GradientSync whose Finish
  // keeps the local decision (MakeGradReadySync). Replaces any sync; null clears it.
  void SetGradReadyHook(GradReadyHook hook);
  // Forward, loss, Backward, the gradient sync, clipping and one optimizer step on one batch.
  // With NonFinitePolicy::kSkipStep a non-finite loss gives applied = false; with a sync the
  // backward pass runs anyway (every rank reports every gradient) and the group's verdict
  // decides. Needs Compile.
  StatusOr<StepResult> TrainStep(const TensorList& x, const TensorList& y);
  StatusOr<StepResult> TrainStep(const Tensor& x, const Tensor& y);
  // TrainStep with per-sample weights (float32 [batch] or undefined) and class weights, as
  // FitOptions::sample_weight / class_weight describe (Keras's train_on_batch).
  StatusOr<StepResult> TrainStep(const TensorList& x, const TensorList& y,
                                 const Tensor& sample_weight, const ClassWeights& class_weight);

  // Input and output names, dtypes and shapes (batch axis -1), as Save writes them to
  // signature.json (ReadSignature reads them back without building the model).
  // FailedPrecondition for a Sequential not built yet.
  virtual StatusOr<ModelSignature> signature() const = 0;

  // Writes a checkpoint directory atomically (see Sequential::Save / GraphModel::Save).
  virtual Status Save(const std::string& dir) const = 0;
  // Epoch count saved by the last Save after Fit (0 when none).
  int epochs_trained() const { return epochs_trained_; }

 protected:
  // The model-specific passes; x is already on the model's device and the model is built.
  virtual StatusOr<TensorList> DoForward(const TensorList& x, bool training) = 0;
  virtual Status DoBackward(const TensorList& grad_outputs) = 0;
  // An error naming the first part of the model that cannot run on CUDA (layers are checked by
  // To itself).
  virtual Status CheckCuda() const { return absl::OkStatus(); }
  // Reports each parameter of `layer` to the gradient sync (when set).
  Status ParametersReady(Layer& layer);
  // After the parameters moved to another device (To): a subclass re-points what aliases them.
  virtual Status AfterMove() { return absl::OkStatus(); }
  // A shared mutex that lets a waiting writer in first. glibc's rwlock (under std::shared_mutex)
  // prefers readers, so threads predicting in a loop would hold a training step off for ever;
  // here a writer waits holding the gate, and new readers queue behind it. Not reentrant.
  class StateMutex {
   public:
    void lock() {
      std::lock_guard<std::mutex> gate(gate_);
      mu_.lock();
    }
    void unlock() { mu_.unlock(); }
    void lock_shared() {
      std::lock_guard<std::mutex> gate(gate_);
      mu_.lock_shared();
    }
    void unlock_shared() { mu_.unlock_shared(); }

   private:
    std::mutex gate_;
    std::shared_mutex mu_;
  };

  // For a subclass's calls that read the whole model (Save) or replace its weights
  // (LoadWeights), against training and inference on other threads.
  std::shared_lock<StateMutex> ReadLock() const { return std::shared_lock<StateMutex>(state_mu_); }
  std::unique_lock<StateMutex> WriteLock() { return std::unique_lock<StateMutex>(state_mu_); }

  CompileOptions compile_;
  std::shared_ptr<optim::Optimizer> optimizer_;
  int epochs_trained_ = 0;

 private:
  Status EnsureBuilt(const TensorList& x);
  StatusOr<Logs> EvaluateImpl(const TensorList& x, const TensorList& y, int64_t batch_size,
                              const Tensor& sample_weight = Tensor());
  StatusOr<Logs> EvaluateDataset(Dataset& data);
  // `sample_weight`: float32 [batch] already combined with any class weights, or undefined.
  StatusOr<StepResult> LossOf(const TensorList& out, const TensorList& y, TensorList* grads,
                              const Tensor& sample_weight = Tensor());
  // InvalidArgument naming `what`, the index and the value unless `w` is float32 [n] on the
  // CPU with every weight finite and >= 0 (undefined passes).
  static Status CheckSampleWeight(const char* what, const Tensor& w, int64_t n);
  // InvalidArgument naming `what` unless class_weight suits the compiled loss and the model.
  Status CheckClassWeights(const char* what, const ClassWeights& class_weight) const;
  // A batch's weights: sample_weight (checked: float32 [batch], finite, >= 0) times the class
  // weight of each sample's target; undefined when both are absent.
  StatusOr<Tensor> BatchWeights(const char* what, const TensorList& out, const TensorList& y,
                                const Tensor& sample_weight,
                                const ClassWeights& class_weight) const;
  // What both Fits share around their passes over the data: the device and precision of
  // `options`, the callbacks, and after each pass (`run_epoch(epoch)`: the epoch's totals) the
  // logs, validation, history and early stopping.
  StatusOr<History> TrainEpochs(const FitOptions& options,
                                const std::function<StatusOr<EpochTotals>(int)>& run_epoch);
  Status EpochEnd(const FitOptions& options, int epoch, const EpochTotals& totals, History& history,
                  bool* stop);
  // Callback::OnBatchEnd for the callbacks that want batches (none: nothing is computed).
  Status BatchEnd(const FitOptions& options, int epoch, int64_t batch, int64_t batches,
                  const EpochTotals& totals);
  Status CheckCompiled(const char* what) const;
  // fit_bf16_ when the caller is the Fit's thread, else -1 (the caller holds state_mu_).
  int FitPrecision() const;
  // CheckCompiled under a shared lock, for inference calls.
  Status CheckCompiledShared(const char* what) const;

  Device device_ = Device::CPU();
  std::shared_ptr<Loss> loss_;
  bool want_accuracy_ = false;
  // The unlocked bodies of the public calls of the same names (the caller holds state_mu_).
  Status ToLocked(Device device);
  StatusOr<TensorList> ForwardLocked(const TensorList& x, bool training);
  StatusOr<StepResult> TrainStepLocked(const TensorList& x, const TensorList& y,
                                       const Tensor& sample_weight,
                                       const ClassWeights& class_weight);
  // The step after the loss: backward, the sync, the non-finite verdict, clipping, the update.
  Status ApplyStep(const TensorList& grads, StepResult& result);
  // Builds the model and places its parameters for `x` if that is still to do (exclusively),
  // so that inference can then run under a shared lock.
  Status ReadyForInference(const TensorList& x);

  // Held by a training call (Fit, TrainStep, Compile, To) for its whole length; recursive, so
  // the training thread's callbacks may call back in. Taken before state_mu_, never after.
  mutable std::recursive_mutex training_mu_;
  // Exclusive while a call writes the model (a training step, a device move, building);
  // shared while inference reads it.
  mutable StateMutex state_mu_;
  std::shared_ptr<GradientSync> sync_;
  int64_t skipped_steps_ = 0;
  bool bf16_ = false;  // set_precision
  // During a Fit: its FitOptions::precision (1: bf16), else -1; it applies to the passes of the
  // Fit's own thread (fit_thread_) only, not to other threads' inference meanwhile.
  int fit_bf16_ = -1;
  std::thread::id fit_thread_;
};

// Loads any checkpoint written by Model::Save (Sequential or GraphModel, chosen by the
// "format" of its architecture.json), with its optimizer state when it was compiled.
StatusOr<std::unique_ptr<Model>> LoadAnyModel(const std::string& dir);

}  // namespace mlcore::nn

// Model: compile, device placement, the forward/backward entry points and one training step,
// shared by Sequential and GraphModel. The epoch loops are in fit.cc.
#include "mlcore/nn/model.h"

#include <cmath>
#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/metric.h"
#include "mlcore/optim/clip.h"
#include "nn/bf16.h"
#include "nn/model_inputs.h"

namespace mlcore::nn {

std::vector<Parameter*> Model::parameters() const {
  std::vector<Parameter*> out;
  for (Layer* layer : AllLayers()) {
    for (Parameter* p : layer->parameters()) out.push_back(p);
  }
  return out;
}

std::vector<Parameter*> Model::buffers() const {
  std::vector<Parameter*> out;
  for (Layer* layer : AllLayers()) {
    for (Parameter* p : layer->buffers()) out.push_back(p);
  }
  return out;
}

int64_t Model::NumParameters() const {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

Status Model::CheckCompiled(const char* what) const {
  if (compiled()) return absl::OkStatus();
  return absl::FailedPreconditionError(kind() + " model: call Compile before " + what);
}

namespace {

// The precision of one pass: a running Fit's (FitOptions::precision), else bf16 when the model
// is set to it, else the thread's (float32 unless an internal scope, as a benchmark's, says
// otherwise).
internal::Precision PassPrecision(int fit_bf16, bool model_bf16) {
  if (fit_bf16 >= 0) {
    return fit_bf16 == 1 ? internal::Precision::kBFloat16 : internal::Precision::kFloat32;
  }
  return model_bf16 ? internal::Precision::kBFloat16 : internal::ComputePrecision();
}

// One per-sample shape per input of `model`; InvalidArgument for a wrong count or batch axis.
StatusOr<std::vector<Shape>> SampleShapes(const Model& model, const TensorList& x) {
  if (x.size() != model.num_inputs()) {
    return absl::InvalidArgumentError(model.kind() + " model takes " +
                                      std::to_string(model.num_inputs()) + " input(s), got " +
                                      std::to_string(x.size()));
  }
  std::vector<Shape> shapes;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].defined() || x[i].dim() < 1) {
      return absl::InvalidArgumentError(model.kind() + " model: input " + std::to_string(i) +
                                        " must have a batch dimension");
    }
    if (x[i].shape()[0] != x[0].shape()[0]) {
      return absl::InvalidArgumentError(
          model.kind() + " model: inputs differ in batch size: " + ShapeToString(x[0].shape()) +
          " and " + ShapeToString(x[i].shape()) + " (input " + std::to_string(i) + ")");
    }
    shapes.emplace_back(x[i].shape().begin() + 1, x[i].shape().end());
  }
  return shapes;
}

}  // namespace

int Model::FitPrecision() const {
  return fit_thread_ == std::this_thread::get_id() ? fit_bf16_ : -1;
}

Status Model::set_precision(const std::string& precision) {
  MLCORE_ASSIGN_OR_RETURN(internal::Precision p, internal::ParsePrecision(precision));
  std::unique_lock<StateMutex> lock(state_mu_);
  bf16_ = p == internal::Precision::kBFloat16;
  return absl::OkStatus();
}

Status Model::Compile(CompileOptions options) {
  if (options.optimizer == nullptr) {
    return absl::InvalidArgumentError("Compile: an optimizer is required");
  }
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<Loss> loss, MakeLoss(options.loss));
  bool accuracy = false;
  for (const std::string& name : options.metrics) {
    MLCORE_ASSIGN_OR_RETURN(MetricSpec metric, MakeMetric(name));
    accuracy |= metric.kind == MetricKind::kAccuracy;
  }
  if (accuracy && loss->name() == "mse") {
    return absl::InvalidArgumentError("the accuracy metric needs a classification loss, not mse");
  }
  if (options.clip_grad_norm < 0) {
    return absl::InvalidArgumentError("clip_grad_norm must be >= 0");
  }
  const size_t outputs = output_names().size();
  if (!options.loss_weights.empty() && options.loss_weights.size() != outputs) {
    return absl::InvalidArgumentError("Compile: " + std::to_string(options.loss_weights.size()) +
                                      " loss_weights for " + std::to_string(outputs) +
                                      " model outputs");
  }
  std::lock_guard<std::recursive_mutex> training(training_mu_);
  std::unique_lock<StateMutex> lock(state_mu_);
  optimizer_ = options.optimizer;
  loss_ = std::move(loss);
  want_accuracy_ = accuracy;
  compile_ = std::move(options);
  return absl::OkStatus();
}

Status Model::To(Device device) {
  std::lock_guard<std::recursive_mutex> training(training_mu_);
  std::unique_lock<StateMutex> lock(state_mu_);
  return ToLocked(device);
}

Status Model::ToLocked(Device device) {
  if (device.is_cuda()) {
    if (!mlcore::cuda::IsAvailable()) {
      return absl::FailedPreconditionError(
          "device '" + device.ToString() +
          "' requested but no CUDA device is usable: " + mlcore::cuda::UnavailableReason());
    }
    for (Layer* layer : AllLayers()) {
      if (!layer->SupportsCuda()) {
        return absl::InvalidArgumentError("layer '" + layer->name() + "' (" + layer->type() +
                                          ") has no CUDA implementation; train on the CPU");
      }
    }
    MLCORE_RETURN_IF_ERROR(CheckCuda());
  }
  if (!built()) {
    device_ = device;  // parameters are created on the CPU at Build and moved on first use
    return absl::OkStatus();
  }
  // Copy everything first, then swap, so a failure leaves the model where it was.
  std::vector<Parameter*> state = parameters();
  for (Parameter* b : buffers()) state.push_back(b);
  std::vector<std::pair<Tensor, Tensor>> moved;
  for (Parameter* p : state) {
    MLCORE_ASSIGN_OR_RETURN(Tensor v, p->value.device() == device ? p->value : p->value.To(device));
    Tensor g = p->grad;
    if (g.defined() && g.device() != device) {
      MLCORE_ASSIGN_OR_RETURN(g, g.To(device));
    }
    moved.emplace_back(std::move(v), std::move(g));
  }
  for (size_t i = 0; i < state.size(); ++i) {
    state[i]->value = std::move(moved[i].first);
    state[i]->grad = std::move(moved[i].second);
  }
  device_ = device;
  return AfterMove();
}

Status Model::EnsureBuilt(const TensorList& x) {
  MLCORE_ASSIGN_OR_RETURN(std::vector<Shape> shapes, SampleShapes(*this, x));
  if (built()) return absl::OkStatus();
  return BuildFor(shapes);
}

Status Model::ReadyForInference(const TensorList& x) {
  MLCORE_RETURN_IF_ERROR(SampleShapes(*this, x).status());
  auto ready = [&] {
    if (!built()) return false;
    std::vector<Parameter*> params = parameters();
    return params.empty() || params.front()->value.device() == device_;
  };
  {
    std::shared_lock<StateMutex> lock(state_mu_);
    if (ready()) return absl::OkStatus();
  }
  std::unique_lock<StateMutex> lock(state_mu_);
  MLCORE_RETURN_IF_ERROR(EnsureBuilt(x));
  if (!ready()) MLCORE_RETURN_IF_ERROR(ToLocked(device_));  // built after To(): move them
  return absl::OkStatus();
}

StatusOr<TensorList> Model::ForwardAll(const TensorList& x, bool training) {
  if (training) {
    std::unique_lock<StateMutex> lock(state_mu_);
    return ForwardLocked(x, training);
  }
  MLCORE_RETURN_IF_ERROR(ReadyForInference(x));
  std::shared_lock<StateMutex> lock(state_mu_);
  return ForwardLocked(x, training);
}

StatusOr<TensorList> Model::ForwardLocked(const TensorList& x, bool training) {
  internal::ScopedComputePrecision precision(PassPrecision(FitPrecision(), bf16_));
  MLCORE_RETURN_IF_ERROR(EnsureBuilt(x));
  std::vector<Parameter*> params = parameters();
  if (!params.empty() && params.front()->value.device() != device_) {
    if (!training) {
      return absl::InternalError(kind() + " model: inference found parameters off the device");
    }
    MLCORE_RETURN_IF_ERROR(ToLocked(device_));  // built after To(): move the new parameters
  }
  TensorList moved;
  moved.reserve(x.size());
  for (const Tensor& t : x) {
    if (t.device() == device_) {
      moved.push_back(t);
    } else {
      MLCORE_ASSIGN_OR_RETURN(Tensor d, t.To(device_));
      moved.push_back(std::move(d));
    }
  }
  StatusOr<TensorList> out = DoForward(moved, training);
  if (!out.ok() && IsTypeError(out.status()) && num_inputs() == 1 &&
      x[0].dtype() != DType::kFloat32) {
    // The first layer refused the input's dtype: a bad value for this model, named as such.
    return absl::InvalidArgumentError(
        std::string("the model input has dtype ") + DTypeName(x[0].dtype()) +
        ", which its first layer does not take: " + std::string(out.status().message()));
  }
  return out;
}

Status Model::BackwardAll(const TensorList& grad_outputs) {
  if (grad_outputs.size() != output_names().size()) {
    return absl::InvalidArgumentError("Backward: " + std::to_string(grad_outputs.size()) +
                                      " gradients for " + std::to_string(output_names().size()) +
                                      " outputs");
  }
  std::unique_lock<StateMutex> lock(state_mu_);
  internal::ScopedComputePrecision precision(PassPrecision(FitPrecision(), bf16_));
  Status status = DoBackward(grad_outputs);
  if (!status.ok() && sync_) sync_->Abort(status);
  return status;
}

void Model::set_gradient_sync(std::shared_ptr<GradientSync> sync) {
  std::lock_guard<std::recursive_mutex> training(training_mu_);
  std::unique_lock<StateMutex> lock(state_mu_);
  sync_ = std::move(sync);
}

std::shared_ptr<GradientSync> Model::gradient_sync() const {
  std::shared_lock<StateMutex> lock(state_mu_);
  return sync_;
}

void Model::SetGradReadyHook(GradReadyHook hook) {
  set_gradient_sync(hook ? MakeGradReadySync(std::move(hook)) : nullptr);
}

Status Model::FinishGradients(StepContext& step) {
  std::unique_lock<StateMutex> lock(state_mu_);
  if (!sync_) return absl::OkStatus();
  Status status = sync_->Finish(step);
  if (!status.ok()) sync_->Abort(status);
  return status;
}

Status Model::ParametersReady(Layer& layer) {
  if (!sync_) return absl::OkStatus();
  for (Parameter* p : layer.parameters()) MLCORE_RETURN_IF_ERROR(sync_->OnGradientReady(*p));
  return absl::OkStatus();
}

Status Model::CheckSampleWeight(const char* what, const Tensor& w, int64_t n) {
  if (!w.defined()) return absl::OkStatus();
  if (w.dtype() != DType::kFloat32 || w.dim() != 1 || !w.device().is_cpu()) {
    return absl::InvalidArgumentError(std::string(what) +
                                      ": sample_weight must be a float32 [N] CPU tensor, got " +
                                      w.ToString());
  }
  if (w.shape()[0] != n) {
    return absl::InvalidArgumentError(std::string(what) + ": sample_weight has " +
                                      std::to_string(w.shape()[0]) + " weights for " +
                                      std::to_string(n) + " samples");
  }
  const float* v = w.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    if (!(std::isfinite(v[i]) && v[i] >= 0.0f)) {
      return absl::InvalidArgumentError(std::string(what) + ": sample_weight[" + std::to_string(i) +
                                        "] is " + std::to_string(v[i]) +
                                        "; weights must be finite and >= 0");
    }
  }
  return absl::OkStatus();
}

Status Model::CheckClassWeights(const char* what, const ClassWeights& class_weight) const {
  if (class_weight.empty()) return absl::OkStatus();
  // The loss's canonical name, whatever alias Compile was given.
  const std::string loss = loss_ ? loss_->name() : compile_.loss;
  if (loss != "cross_entropy" && loss != "binary_cross_entropy") {
    return absl::InvalidArgumentError(std::string(what) + ": class_weight needs a classification " +
                                      "loss (cross_entropy or binary_cross_entropy), not " + loss);
  }
  if (output_names().size() != 1) {
    return absl::InvalidArgumentError(std::string(what) + ": class_weight is for models with one " +
                                      "output; this one has " +
                                      std::to_string(output_names().size()));
  }
  for (const auto& [cls, weight] : class_weight) {
    const int64_t limit = loss == "binary_cross_entropy" ? 2 : INT64_MAX;
    if (cls < 0 || cls >= limit) {
      return absl::InvalidArgumentError(std::string(what) + ": class_weight key " +
                                        std::to_string(cls) + " is not a class of " + loss +
                                        (limit == 2 ? " (0 or 1)" : " (ids are >= 0)"));
    }
    if (!(std::isfinite(weight) && weight >= 0.0)) {
      return absl::InvalidArgumentError(std::string(what) + ": class_weight[" +
                                        std::to_string(cls) + "] is " + std::to_string(weight) +
                                        "; weights must be finite and >= 0");
    }
  }
  return absl::OkStatus();
}

StatusOr<Tensor> Model::BatchWeights(const char* what, const TensorList& out, const TensorList& y,
                                     const Tensor& sample_weight,
                                     const ClassWeights& class_weight) const {
  if (out.empty() || !out[0].defined() || out[0].dim() < 1) {
    return absl::InvalidArgumentError(std::string(what) + ": the model gave no batched output");
  }
  const int64_t batch = out[0].shape()[0];
  MLCORE_RETURN_IF_ERROR(CheckSampleWeight(what, sample_weight, batch));
  if (class_weight.empty()) return sample_weight;
  MLCORE_RETURN_IF_ERROR(CheckClassWeights(what, class_weight));
  const bool binary = loss_->name() == "binary_cross_entropy";
  const int64_t classes = binary ? 2 : (out[0].dim() == 2 ? out[0].shape()[1] : 0);
  const int64_t top = class_weight.rbegin()->first;
  if (top >= classes) {
    return absl::InvalidArgumentError(
        std::string(what) + ": class_weight key " + std::to_string(top) + " is out of range [0, " +
        std::to_string(classes) + ") for the model's output " + ShapeToString(out[0].shape()));
  }
  Tensor target = y.empty() ? Tensor() : y[0];
  if (target.defined() && !target.device().is_cpu()) {
    MLCORE_ASSIGN_OR_RETURN(target, target.To(Device::CPU()));
  }
  // Wrong target dtypes and shapes are left to the loss, whose messages name them; here only
  // what the class lookup itself needs is checked.
  const bool ids = target.defined() && !binary &&
                   (target.dtype() == DType::kInt64 || target.dtype() == DType::kInt32);
  const bool probs = target.defined() && binary && target.dtype() == DType::kFloat32;
  if ((!ids && !probs) || target.numel() != batch) {
    if (binary && target.defined() && target.numel() != batch) {
      return absl::InvalidArgumentError(
          std::string(what) + ": class_weight with binary_cross_entropy needs one target per " +
          "sample, got targets " + ShapeToString(target.shape()));
    }
    return sample_weight;  // the loss rejects these targets with its own message
  }
  MLCORE_ASSIGN_OR_RETURN(Tensor w, Tensor::Empty({batch}, DType::kFloat32));
  float* wp = w.data<float>();
  for (int64_t i = 0; i < batch; ++i) {
    int64_t cls;
    if (binary) {
      cls = target.data<float>()[i] > 0.5f ? 1 : 0;  // Keras rounds the target
    } else {
      cls = target.dtype() == DType::kInt64 ? target.data<int64_t>()[i] : target.data<int32_t>()[i];
    }
    const auto it = class_weight.find(cls);
    const float cw = it == class_weight.end() ? 1.0f : static_cast<float>(it->second);
    wp[i] = sample_weight.defined() ? sample_weight.data<float>()[i] * cw : cw;
  }
  return w;
}

StatusOr<StepResult> Model::LossOf(const TensorList& out, const TensorList& y, TensorList* grads,
                                   const Tensor& sample_weight) {
  if (y.size() != out.size()) {
    return absl::InvalidArgumentError(kind() + " model has " + std::to_string(out.size()) +
                                      " output(s) but " + std::to_string(y.size()) +
                                      " target(s) were given");
  }
  const std::vector<std::string> names = output_names();
  StepResult result;
  for (size_t i = 0; i < out.size(); ++i) {
    const double w = compile_.loss_weights.empty() ? 1.0 : compile_.loss_weights[i];
    Tensor g;
    StatusOr<double> loss =
        sample_weight.defined()
            ? loss_->ComputeWeighted(out[i], y[i], sample_weight, grads ? &g : nullptr)
            : loss_->Compute(out[i], y[i], grads ? &g : nullptr);
    if (!loss.ok()) {
      if (out.size() == 1) return loss.status();
      return WithPrefix(loss.status(), "output '" + names[i] + "': ");
    }
    result.output_losses.push_back(*loss);
    result.loss += w * *loss;
    if (grads) {
      if (w != 1.0) {
        float* d = g.data<float>();
        if (g.device().is_cpu()) {
          for (int64_t k = 0; k < g.numel(); ++k) d[k] *= static_cast<float>(w);
        } else {
          MLCORE_ASSIGN_OR_RETURN(Tensor host, g.To(Device::CPU()));
          for (int64_t k = 0; k < host.numel(); ++k) host.data<float>()[k] *= static_cast<float>(w);
          MLCORE_RETURN_IF_ERROR(g.CopyFrom(host));
        }
      }
      grads->push_back(std::move(g));
    }
    if (want_accuracy_) {
      MLCORE_ASSIGN_OR_RETURN(int64_t c, loss_->CountCorrect(out[i], y[i]));
      result.output_correct.push_back(c);
    }
  }
  if (!result.output_correct.empty()) result.correct = result.output_correct[0];
  return result;
}

StatusOr<StepResult> Model::TrainStep(const Tensor& x, const Tensor& y) {
  return TrainStep(TensorList{x}, TensorList{y});
}

StatusOr<StepResult> Model::TrainStep(const TensorList& x, const TensorList& y) {
  return TrainStep(x, y, Tensor(), ClassWeights());
}

StatusOr<StepResult> Model::TrainStep(const TensorList& x, const TensorList& y,
                                      const Tensor& sample_weight,
                                      const ClassWeights& class_weight) {
  std::lock_guard<std::recursive_mutex> training(training_mu_);
  std::unique_lock<StateMutex> lock(state_mu_);
  // Converted as Fit converts (a no-op for the batches Fit itself passes).
  MLCORE_ASSIGN_OR_RETURN(const TensorList xs, internal::ModelInputs(x));
  MLCORE_ASSIGN_OR_RETURN(const TensorList ys, internal::ModelTargets(y, compile_.loss));
  MLCORE_ASSIGN_OR_RETURN(const Tensor w, internal::SampleWeight(sample_weight));
  return TrainStepLocked(xs, ys, w, class_weight);
}

StatusOr<StepResult> Model::TrainStepLocked(const TensorList& x, const TensorList& y,
                                            const Tensor& sample_weight,
                                            const ClassWeights& class_weight) {
  MLCORE_RETURN_IF_ERROR(CheckCompiled("training"));
  internal::ScopedComputePrecision precision(PassPrecision(FitPrecision(), bf16_));
  MLCORE_ASSIGN_OR_RETURN(TensorList out, ForwardLocked(x, /*training=*/true));
  MLCORE_ASSIGN_OR_RETURN(Tensor weights,
                          BatchWeights("TrainStep", out, y, sample_weight, class_weight));
  TensorList grads;
  MLCORE_ASSIGN_OR_RETURN(StepResult result, LossOf(out, y, &grads, weights));
  Status status = ApplyStep(grads, result);
  if (!status.ok()) return status;
  return result;
}

namespace {

Status NonFiniteError(double loss, bool local) {
  if (!local) {
    return absl::FailedPreconditionError(
        "the loss is not finite on another rank of the gradient sync (here " +
        std::to_string(loss) +
        "); lower the learning rate, check the inputs, or compile with "
        "on_non_finite=skip");
  }
  return absl::FailedPreconditionError("loss is " + std::to_string(loss) +
                                       " (not finite); lower the learning rate, check the "
                                       "inputs, or compile with on_non_finite=skip");
}

}  // namespace

Status Model::ApplyStep(const TensorList& grads, StepResult& result) {
  const bool skip = compile_.on_non_finite == NonFinitePolicy::kSkipStep;
  StepContext step{
      .step = optimizer_->steps(), .loss = result.loss, .non_finite = !std::isfinite(result.loss)};
  // Alone, a non-finite loss needs no backward pass. With a sync every rank runs it, so that
  // each reports every gradient and the group decides together in Finish.
  if (step.non_finite && !sync_) {
    if (!skip) return NonFiniteError(result.loss, true);
    result.applied = false;
    return absl::OkStatus();
  }
  Status status = DoBackward(grads);
  if (sync_ && status.ok()) status = sync_->Finish(step);
  if (!status.ok()) {
    if (sync_) sync_->Abort(status);
    return status;
  }
  if (step.non_finite) {
    if (!skip) return NonFiniteError(result.loss, !std::isfinite(result.loss));
    result.applied = false;
    return absl::OkStatus();
  }
  std::vector<Parameter*> params = parameters();
  if (compile_.clip_grad_norm > 0) {
    // After Finish every rank holds the same gradients, so every rank sees the same norm.
    MLCORE_ASSIGN_OR_RETURN(double norm, optim::ClipGradNorm(params, compile_.clip_grad_norm));
    if (!std::isfinite(norm)) {
      if (!skip) return absl::FailedPreconditionError("gradient norm is not finite");
      result.applied = false;
      return absl::OkStatus();
    }
  }
  const double base = optimizer_->learning_rate();
  const double lr =
      compile_.schedule ? compile_.schedule->LearningRate(optimizer_->steps(), base) : base;
  return optimizer_->Step(params, lr);
}

void EpochTotals::AddBatch(const StepResult& step, int64_t batch) {
  if (!step.applied) {
    ++skipped;
    return;
  }
  const double n = static_cast<double>(batch);
  loss_sum += step.loss * n;
  correct += step.correct;
  seen += batch;
  output_loss_sums.resize(step.output_losses.size());
  output_correct.resize(step.output_correct.size());
  for (size_t i = 0; i < step.output_losses.size(); ++i) {
    output_loss_sums[i] += step.output_losses[i] * n;
  }
  for (size_t i = 0; i < step.output_correct.size(); ++i)
    output_correct[i] += step.output_correct[i];
}

Logs EpochTotals::ToLogs(const std::vector<std::string>& output_names, bool accuracy) const {
  Logs logs;
  const double n = static_cast<double>(seen);
  logs["loss"] = seen > 0 ? loss_sum / n : NAN;
  if (accuracy) logs["accuracy"] = seen > 0 ? static_cast<double>(correct) / n : NAN;
  if (output_names.size() > 1) {
    for (size_t i = 0; i < output_names.size(); ++i) {
      if (i < output_loss_sums.size()) {
        logs[output_names[i] + "_loss"] = seen > 0 ? output_loss_sums[i] / n : NAN;
      }
      if (accuracy && i < output_correct.size()) {
        logs[output_names[i] + "_accuracy"] =
            seen > 0 ? static_cast<double>(output_correct[i]) / n : NAN;
      }
    }
  }
  return logs;
}

}  // namespace mlcore::nn

// Sequential: building, the forward and backward passes and one training step. The epoch loop
// is in fit.cc and checkpoints in checkpoint.cc.
#include "mlcore/nn/sequential.h"

#include <cmath>
#include <map>

#include "mlcore/core/cuda.h"
#include "mlcore/optim/clip.h"

namespace mlcore::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
  for (auto& layer : layers) {
    Status status = Add(std::move(layer));
    if (!status.ok() && init_status_.ok()) init_status_ = status;
  }
}

Status Sequential::Add(std::shared_ptr<Layer> layer) {
  if (layer == nullptr) return absl::InvalidArgumentError("Sequential::Add: null layer");
  if (built_) return absl::FailedPreconditionError("Sequential::Add: the model is already built");
  if (layer->name().empty()) {
    layer->set_name(layer->type() + "_" + std::to_string(layers_.size()));
  }
  for (const auto& other : layers_) {
    if (other == layer) {
      return absl::InvalidArgumentError("Sequential::Add: " + layer->name() + " added twice");
    }
    if (other->name() == layer->name()) {
      return absl::InvalidArgumentError("Sequential::Add: two layers named " + layer->name());
    }
  }
  layers_.push_back(std::move(layer));
  return absl::OkStatus();
}

Status Sequential::Build(const Shape& input_shape, uint64_t seed) {
  MLCORE_RETURN_IF_ERROR(init_status_);
  if (layers_.empty()) return absl::FailedPreconditionError("Sequential: the model has no layers");
  Shape shape = input_shape;
  for (size_t i = 0; i < layers_.size(); ++i) {
    // Distinct, repeatable streams per layer.
    MLCORE_ASSIGN_OR_RETURN(shape, layers_[i]->Build(shape, seed * 1000003 + i));
  }
  input_shape_ = input_shape;
  built_ = true;
  return absl::OkStatus();
}

std::vector<Parameter*> Sequential::parameters() {
  std::vector<Parameter*> out;
  for (auto& layer : layers_) {
    for (Parameter* p : layer->parameters()) out.push_back(p);
  }
  return out;
}

int64_t Sequential::NumParameters() {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

Status Sequential::EnsureBuilt(const Tensor& x) {
  if (!x.defined() || x.dim() < 1) {
    return absl::InvalidArgumentError("Sequential: input must have a batch dimension");
  }
  if (built_) return absl::OkStatus();
  return Build(Shape(x.shape().begin() + 1, x.shape().end()));
}

Status Sequential::Compile(CompileOptions options) {
  if (options.optimizer == nullptr) {
    return absl::InvalidArgumentError("Sequential::Compile: an optimizer is required");
  }
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<Loss> loss, MakeLoss(options.loss));
  bool accuracy = false;
  for (const std::string& metric : options.metrics) {
    if (metric != "accuracy" && metric != "acc") {
      return absl::NotFoundError("unknown metric '" + metric + "'; known: accuracy");
    }
    accuracy = true;
  }
  if (accuracy && loss->name() == "mse") {
    return absl::InvalidArgumentError("the accuracy metric needs a classification loss, not mse");
  }
  if (options.clip_grad_norm < 0) {
    return absl::InvalidArgumentError("clip_grad_norm must be >= 0");
  }
  optimizer_ = options.optimizer;
  loss_ = std::move(loss);
  want_accuracy_ = accuracy;
  compile_ = std::move(options);
  return absl::OkStatus();
}

Status Sequential::To(Device device) {
  if (device.is_cuda()) {
    if (!cuda::IsAvailable()) {
      return absl::FailedPreconditionError(
          "device '" + device.ToString() +
          "' requested but no CUDA device is usable: " + cuda::UnavailableReason());
    }
    for (const auto& layer : layers_) {
      if (!layer->SupportsCuda()) {
        return absl::InvalidArgumentError("layer '" + layer->name() + "' (" + layer->type() +
                                          ") has no CUDA implementation; train on the CPU");
      }
    }
  }
  if (!built_) {
    device_ = device;  // parameters are created on the CPU at Build and moved on first use
    return absl::OkStatus();
  }
  // Copy everything first, then swap, so a failure leaves the model where it was.
  std::vector<std::pair<Tensor, Tensor>> moved;
  for (Parameter* p : parameters()) {
    MLCORE_ASSIGN_OR_RETURN(Tensor v, p->value.device() == device ? p->value : p->value.To(device));
    MLCORE_ASSIGN_OR_RETURN(Tensor g, p->grad.device() == device ? p->grad : p->grad.To(device));
    moved.emplace_back(std::move(v), std::move(g));
  }
  size_t i = 0;
  for (Parameter* p : parameters()) {
    p->value = std::move(moved[i].first);
    p->grad = std::move(moved[i++].second);
  }
  device_ = device;
  return absl::OkStatus();
}

StatusOr<Tensor> Sequential::Forward(const Tensor& x, bool training) {
  MLCORE_RETURN_IF_ERROR(EnsureBuilt(x));
  Tensor h = x;
  if (!parameters().empty() && parameters().front()->value.device() != device_) {
    MLCORE_RETURN_IF_ERROR(To(device_));  // built after To(): move the new parameters
  }
  if (h.device() != device_) {
    MLCORE_ASSIGN_OR_RETURN(h, x.To(device_));
  }
  for (auto& layer : layers_) {
    MLCORE_ASSIGN_OR_RETURN(h, layer->Forward(h, training));
  }
  return h;
}

Status Sequential::Backward(const Tensor& grad_output) {
  Tensor g = grad_output;
  layers_.front()->set_input_grad_needed(false);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    MLCORE_ASSIGN_OR_RETURN(g, (*it)->Backward(g));
    if (hook_) {
      for (Parameter* p : (*it)->parameters()) MLCORE_RETURN_IF_ERROR(hook_(*p));
    }
  }
  return absl::OkStatus();
}

StatusOr<StepResult> Sequential::TrainStep(const Tensor& x, const Tensor& y) {
  if (!compiled()) return absl::FailedPreconditionError("Sequential: call Compile before training");
  MLCORE_ASSIGN_OR_RETURN(Tensor out, Forward(x, /*training=*/true));
  StepResult result;
  Tensor grad;
  MLCORE_ASSIGN_OR_RETURN(result.loss, loss_->Compute(out, y, &grad));
  if (want_accuracy_) {
    MLCORE_ASSIGN_OR_RETURN(result.correct, loss_->CountCorrect(out, y));
  }
  const bool skip = compile_.on_non_finite == NonFinitePolicy::kSkipStep;
  if (!std::isfinite(result.loss)) {
    if (skip) {
      result.applied = false;
      return result;
    }
    return absl::FailedPreconditionError("loss is " + std::to_string(result.loss) +
                                         " (not finite); lower the learning rate, check the "
                                         "inputs, or compile with on_non_finite=skip");
  }
  MLCORE_RETURN_IF_ERROR(Backward(grad));
  std::vector<Parameter*> params = parameters();
  if (compile_.clip_grad_norm > 0) {
    MLCORE_ASSIGN_OR_RETURN(double norm, optim::ClipGradNorm(params, compile_.clip_grad_norm));
    if (!std::isfinite(norm)) {
      if (skip) {
        result.applied = false;
        return result;
      }
      return absl::FailedPreconditionError("gradient norm is not finite");
    }
  }
  const double base = optimizer_->learning_rate();
  const double lr =
      compile_.schedule ? compile_.schedule->LearningRate(optimizer_->steps(), base) : base;
  MLCORE_RETURN_IF_ERROR(optimizer_->Step(params, lr));
  return result;
}

}  // namespace mlcore::nn

// FunctionLayer: a layer whose build, forward and backward are callables. The base class checks
// the input; this one checks what the callables hand back, because they are user code (often
// Python) and a wrong shape here would otherwise surface as a confusing error layers later.
#include "mlcore/nn/function_layer.h"

#include <algorithm>
#include <utility>

#include "nn/layer_util.h"

namespace mlcore::nn {

FunctionLayer::FunctionLayer(std::string type, LayerConfig config, FunctionLayerSteps steps)
    : type_(std::move(type)), config_(std::move(config)), steps_(std::move(steps)) {}

std::vector<Parameter*> FunctionLayer::parameters() {
  std::vector<Parameter*> out;
  out.reserve(params_.size());
  for (Parameter& p : params_) out.push_back(&p);
  return out;
}

StatusOr<Parameter*> FunctionLayer::AddParameter(const std::string& slot, const Shape& shape) {
  if (slot.empty() || slot.find('.') != std::string::npos) {
    return absl::InvalidArgumentError(Describe() + ": a parameter slot must be a non-empty name " +
                                      "without '.', got '" + slot + "'");
  }
  if (std::find(slots_.begin(), slots_.end(), slot) != slots_.end()) {
    return absl::InvalidArgumentError(Describe() + " already has a parameter '" + slot + "'");
  }
  for (int64_t d : shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(Describe() + ": parameter '" + slot + "' has shape " +
                                        ShapeToString(shape) + "; every size must be positive");
    }
  }
  const std::string prefix = name().empty() ? type_ : name();
  MLCORE_ASSIGN_OR_RETURN(Parameter p, internal::MakeParameter(prefix + "." + slot, shape));
  slots_.push_back(slot);
  params_.push_back(std::move(p));
  return &params_.back();
}

StatusOr<Parameter*> FunctionLayer::parameter(const std::string& slot) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i] == slot) return &params_[i];
  }
  std::string known;
  for (const std::string& s : slots_) known += (known.empty() ? "" : ", ") + s;
  return absl::NotFoundError(Describe() + " has no parameter '" + slot +
                             "' (it has: " + (known.empty() ? std::string("none") : known) + ")");
}

StatusOr<Shape> FunctionLayer::DoBuild(const Shape& input_shape, uint64_t seed) {
  // A failed build leaves no half-declared parameters behind for a retry.
  StatusOr<Shape> out = steps_.build(*this, input_shape, seed);
  if (!out.ok()) {
    slots_.clear();
    params_.clear();
    return out.status();
  }
  for (int64_t d : *out) {
    if (d <= 0) {
      slots_.clear();
      params_.clear();
      return absl::InvalidArgumentError(Describe() + ": build returned the output shape " +
                                        ShapeToString(*out) + "; every size must be positive");
    }
  }
  return out;
}

StatusOr<Tensor> FunctionLayer::DoForward(const Tensor& x, bool training) {
  MLCORE_ASSIGN_OR_RETURN(Tensor y, steps_.forward(*this, x, training));
  Shape expected = output_shape();
  expected.insert(expected.begin(), x.shape()[0]);
  if (!y.defined() || y.shape() != expected || y.dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(
        Describe() + ": forward returned " +
        (y.defined() ? std::string(DTypeName(y.dtype())) + " of shape " + ShapeToString(y.shape())
                     : std::string("nothing")) +
        "; expected float32 of shape " + ShapeToString(expected) +
        " (the batch, then the shape build returned)");
  }
  if (training) last_input_shape_ = x.shape();
  return y;
}

StatusOr<Tensor> FunctionLayer::DoBackward(const Tensor& grad_output) {
  if (!steps_.backward) {
    return absl::FailedPreconditionError(
        Describe() + " has no backward step, so it cannot be trained; define backward (or " +
        "build the layer from existing layers)");
  }
  MLCORE_ASSIGN_OR_RETURN(Tensor dx, steps_.backward(*this, grad_output));
  for (const Parameter& p : params_) {
    if (!p.grad.defined() || p.grad.shape() != p.value.shape()) {
      return absl::InvalidArgumentError(
          Describe() + ": after backward the gradient of " + p.name + " has shape " +
          (p.grad.defined() ? ShapeToString(p.grad.shape()) : std::string("(none)")) +
          ", not its parameter's " + ShapeToString(p.value.shape()));
    }
  }
  if (!dx.defined()) {
    if (!input_grad_needed()) return dx;
    return absl::InvalidArgumentError(Describe() +
                                      ": backward returned no input gradient, but the layer " +
                                      "before it needs one");
  }
  if (dx.shape() != last_input_shape_ || dx.dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(
        Describe() + ": backward returned " + std::string(DTypeName(dx.dtype())) + " of shape " +
        ShapeToString(dx.shape()) + "; expected float32 of the input's shape " +
        ShapeToString(last_input_shape_));
  }
  return dx;
}

bool FunctionLayer::AcceptsDType(DType dtype) const {
  return steps_.accepts_dtype ? steps_.accepts_dtype(dtype) : dtype == DType::kFloat32;
}

StatusOr<std::shared_ptr<FunctionLayer>> MakeFunctionLayer(std::string type, LayerConfig config,
                                                           FunctionLayerSteps steps) {
  if (type.empty()) return absl::InvalidArgumentError("a function layer needs a type name");
  if (!steps.build || !steps.forward) {
    return absl::InvalidArgumentError("function layer '" + type +
                                      "' needs both a build and a forward step");
  }
  return std::make_shared<FunctionLayer>(std::move(type), std::move(config), std::move(steps));
}

}  // namespace mlcore::nn

// Sequential: the layer list, building, and the forward and backward passes over it. Training
// is Model's (model.cc, fit.cc) and checkpoints are in checkpoint.cc.
#include "mlcore/nn/sequential.h"

namespace mlcore::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
  for (auto& layer : layers) {
    Status status = Add(std::move(layer));
    if (!status.ok() && init_status_.ok()) init_status_ = status;
  }
}

Sequential::Sequential(std::initializer_list<StatusOr<std::shared_ptr<Layer>>> layers) {
  for (const StatusOr<std::shared_ptr<Layer>>& layer : layers) {
    Status status = layer.ok() ? Add(*layer) : layer.status();
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

Status Sequential::BuildFor(const std::vector<Shape>& input_shapes, uint64_t seed) {
  if (input_shapes.size() != 1) {
    return absl::InvalidArgumentError("Sequential takes one input, got " +
                                      std::to_string(input_shapes.size()));
  }
  return Build(input_shapes[0], seed);
}

StatusOr<ModelSignature> Sequential::signature() const {
  if (!built_) {
    return absl::FailedPreconditionError(
        "Sequential: no signature before the model is built (Build, or a first Fit or Predict)");
  }
  Shape in = input_shape_, out = layers_.back()->output_shape();
  in.insert(in.begin(), -1);
  out.insert(out.begin(), -1);
  const DType in_dtype = layers_.front()->type() == "embedding" ? DType::kInt64 : DType::kFloat32;
  return ModelSignature{{{"input", in_dtype, in}}, {{"output", DType::kFloat32, out}}};
}

std::vector<Layer*> Sequential::AllLayers() const {
  std::vector<Layer*> out;
  for (const auto& layer : layers_) out.push_back(layer.get());
  return out;
}

StatusOr<Tensor> Sequential::Forward(const Tensor& x, bool training) {
  MLCORE_ASSIGN_OR_RETURN(TensorList out, ForwardAll({x}, training));
  return out[0];
}

Status Sequential::Backward(const Tensor& grad_output) { return BackwardAll({grad_output}); }

StatusOr<TensorList> Sequential::DoForward(const TensorList& x, bool training) {
  Tensor h = x[0];
  for (auto& layer : layers_) {
    MLCORE_ASSIGN_OR_RETURN(h, layer->Forward(h, training));
  }
  return TensorList{std::move(h)};
}

Status Sequential::DoBackward(const TensorList& grad_outputs) {
  Tensor g = grad_outputs[0];
  layers_.front()->set_input_grad_needed(false);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    MLCORE_ASSIGN_OR_RETURN(g, (*it)->Backward(g));
    MLCORE_RETURN_IF_ERROR(ParametersReady(**it));
  }
  return absl::OkStatus();
}

}  // namespace mlcore::nn

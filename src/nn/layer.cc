// The shape checks every layer shares, and the registry of layer types.
#include "mlcore/nn/layer.h"

#include <utility>

namespace mlcore::nn {
namespace {

Shape WithoutBatch(const Shape& shape) { return Shape(shape.begin() + 1, shape.end()); }

}  // namespace

std::string Layer::Describe() const {
  return "layer '" + (name_.empty() ? type() : name_) + "' (" + type() + ")";
}

StatusOr<Shape> Layer::Build(const Shape& input_shape, uint64_t seed) {
  if (built_) {
    if (input_shape != input_shape_) {
      return absl::InvalidArgumentError(Describe() + " was built for input " +
                                        ShapeToString(input_shape_) + " and cannot take " +
                                        ShapeToString(input_shape));
    }
    return output_shape_;
  }
  MLCORE_ASSIGN_OR_RETURN(Shape out, DoBuild(input_shape, seed));
  input_shape_ = input_shape;
  output_shape_ = out;
  built_ = true;
  return out;
}

StatusOr<Tensor> Layer::Forward(const Tensor& x, bool training) {
  if (!built_) return absl::FailedPreconditionError(Describe() + " is not built");
  if (!x.defined() || x.dim() < 1 || WithoutBatch(x.shape()) != input_shape_) {
    Shape expected = input_shape_;
    expected.insert(expected.begin(), -1);
    return absl::InvalidArgumentError(
        Describe() + " expects input of shape " + ShapeToString(expected) + " (-1: any batch) " +
        "but got " + (x.defined() ? ShapeToString(x.shape()) : std::string("an undefined tensor")));
  }
  if (!AcceptsDType(x.dtype())) {
    return TypeError(Describe() + " cannot take " + DTypeName(x.dtype()) +
                     " input (float32 expected" +
                     (AcceptsDType(DType::kInt64) ? ", or int32/int64 indices)" : ")"));
  }
  if (x.device().is_cuda() && !SupportsCuda()) {
    return absl::InvalidArgumentError(Describe() + " has no CUDA implementation; input is on " +
                                      x.device().ToString());
  }
  for (Parameter* p : parameters()) {
    if (p->value.device() != x.device()) {
      return absl::InvalidArgumentError(Describe() + ": input is on " + x.device().ToString() +
                                        " but parameter " + p->name + " is on " +
                                        p->value.device().ToString());
    }
  }
  MLCORE_ASSIGN_OR_RETURN(Tensor y, DoForward(x, training));
  if (training) {
    has_forward_ = true;
    last_batch_output_shape_ = y.shape();
  }
  return y;
}

StatusOr<Tensor> Layer::Backward(const Tensor& grad_output) {
  if (!has_forward_) {
    return absl::FailedPreconditionError(Describe() + ": Backward needs a training Forward first");
  }
  if (!grad_output.defined() || grad_output.shape() != last_batch_output_shape_ ||
      grad_output.dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(
        Describe() + ": gradient of shape " +
        (grad_output.defined() ? ShapeToString(grad_output.shape()) : std::string("undefined")) +
        " does not match the output shape " + ShapeToString(last_batch_output_shape_));
  }
  return DoBackward(grad_output);
}

Registry<LayerFactory>& LayerRegistry() {
  static auto* registry = new Registry<LayerFactory>("layer");
  return *registry;
}

Status RegisterLayer(const std::string& type, LayerFactory factory) {
  return LayerRegistry().Register(type, std::move(factory));
}

StatusOr<std::shared_ptr<Layer>> CreateLayer(const std::string& type, const LayerConfig& config) {
  return LayerRegistry().Create(type, config);
}

std::vector<std::string> RegisteredLayers() { return LayerRegistry().Names(); }

}  // namespace mlcore::nn

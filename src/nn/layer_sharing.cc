// Copies of a shared layer (see layer_sharing.h), made through the layer registry from the
// layer's type and config, as a checkpoint rebuilds layers.
#include "nn/layer_sharing.h"

#include <string>
#include <vector>

namespace mlcore::nn::internal {
namespace {

Status Mismatch(const Layer& owner, const std::string& what) {
  return absl::InternalError("layer '" + owner.name() + "' (" + owner.type() +
                             ") cannot be shared: a copy made from its config has " + what);
}

Status Alias(const Layer& owner, const std::vector<Parameter*>& from,
             const std::vector<Parameter*>& to, bool with_grad) {
  if (from.size() != to.size()) {
    return Mismatch(
        owner, std::to_string(to.size()) + " tensors where it has " + std::to_string(from.size()));
  }
  for (size_t i = 0; i < from.size(); ++i) {
    const Tensor& v = from[i]->value;
    if (to[i]->value.shape() != v.shape()) {
      return Mismatch(owner, "tensor " + to[i]->name + " of shape " +
                                 ShapeToString(to[i]->value.shape()) + " where it has " +
                                 ShapeToString(v.shape()));
    }
    if (!to[i]->value.SharesStorageWith(v) || to[i]->value.device() != v.device()) {
      to[i]->value = v;
    }
    if (with_grad && (!to[i]->grad.defined() || to[i]->grad.device() != v.device())) {
      MLCORE_ASSIGN_OR_RETURN(to[i]->grad, Tensor::Zeros(v.shape(), DType::kFloat32, v.device()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::shared_ptr<Layer>> ShareLayer(Layer& layer, const Shape& input_shape, uint64_t use) {
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<Layer> copy, CreateLayer(layer.type(), layer.config()));
  copy->set_name(layer.name());
  if (auto* random = dynamic_cast<RandomStreamLayer*>(copy.get())) random->SetStream(use);
  MLCORE_ASSIGN_OR_RETURN(Shape out, copy->Build(input_shape, /*seed=*/0));
  if (out != layer.output_shape()) {
    return Mismatch(layer, "output shape " + ShapeToString(out) + " where it has " +
                               ShapeToString(layer.output_shape()));
  }
  MLCORE_RETURN_IF_ERROR(AliasParameters(layer, *copy));
  return copy;
}

Status AliasParameters(Layer& owner, Layer& copy) {
  MLCORE_RETURN_IF_ERROR(Alias(owner, owner.parameters(), copy.parameters(), /*with_grad=*/true));
  return Alias(owner, owner.buffers(), copy.buffers(), /*with_grad=*/false);
}

}  // namespace mlcore::nn::internal

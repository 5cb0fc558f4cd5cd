// A Layer is one differentiable step of a model: Build fixes its shapes and creates its
// parameters, Forward computes and remembers what Backward needs, Backward turns the gradient of
// its output into the gradient of its input and fills its parameters' gradients. Layers are
// created by name through the registry, which is also how saved architectures are rebuilt.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/tensor.h"
#include "mlcore/nn/parameter.h"

namespace mlcore::nn {

// Numeric settings of a layer ("units", "rate", "seed"...), enough to rebuild it by name.
using LayerConfig = std::map<std::string, double>;

class Layer {
 public:
  virtual ~Layer() = default;

  // The registry name ("dense", "relu"...).
  virtual std::string type() const = 0;
  virtual LayerConfig config() const { return {}; }

  // Instance name used for parameters and in error messages ("dense_0"); the model sets it.
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Fixes the per-sample input shape (no batch dimension), creates the parameters (initialised
  // from `seed`) and returns the per-sample output shape. Building again with the same shape
  // keeps the parameters; another shape is an error naming the layer and both shapes.
  StatusOr<Shape> Build(const Shape& input_shape, uint64_t seed);
  bool built() const { return built_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }

  // x is [batch, *input_shape]; InvalidArgument naming the layer and both shapes otherwise.
  // `training` enables dropout and makes the layer keep what Backward needs.
  StatusOr<Tensor> Forward(const Tensor& x, bool training);
  // grad_output has the shape of the last training Forward's output. Overwrites the gradients
  // of parameters() and returns the gradient with respect to that Forward's input.
  StatusOr<Tensor> Backward(const Tensor& grad_output);

  // When false, Backward may skip the gradient of its input and return an undefined tensor
  // (the model's first layer: nothing needs d(loss)/d(data)). Default true.
  void set_input_grad_needed(bool needed) { input_grad_needed_ = needed; }
  bool input_grad_needed() const { return input_grad_needed_; }

  // Trainable parameters, in a fixed order; empty before Build.
  virtual std::vector<Parameter*> parameters() { return {}; }
  // Non-trainable state that is part of the model (BatchNorm's running mean and variance), in
  // a fixed order; `grad` is undefined. Optimisers never see buffers; checkpoints save and load
  // them beside the parameters so that a loaded model predicts exactly as the saved one.
  virtual std::vector<Parameter*> buffers() { return {}; }
  // Whether Forward/Backward accept tensors on a CUDA device (parameters moved there by
  // Sequential::To).
  virtual bool SupportsCuda() const { return false; }

 protected:
  virtual StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t seed) = 0;
  virtual StatusOr<Tensor> DoForward(const Tensor& x, bool training) = 0;
  virtual StatusOr<Tensor> DoBackward(const Tensor& grad_output) = 0;
  // The input dtypes Forward accepts: float32 unless the layer says otherwise (Embedding takes
  // integer indices).
  virtual bool AcceptsDType(DType dtype) const { return dtype == DType::kFloat32; }
  // "layer 'dense_0' (dense)", for messages.
  std::string Describe() const;

 private:
  std::string name_;
  bool built_ = false;
  bool input_grad_needed_ = true;
  bool has_forward_ = false;
  Shape input_shape_;
  Shape output_shape_;
  Shape last_batch_output_shape_;
};

// Creates layers by type name. Built-in layers register themselves; a new layer is one new file
// with a static LayerRegistration.
using LayerFactory = std::function<StatusOr<std::shared_ptr<Layer>>(const LayerConfig&)>;
// The layer types by name ("layer" in messages).
Registry<LayerFactory>& LayerRegistry();
// AlreadyExists when the type is taken.
Status RegisterLayer(const std::string& type, LayerFactory factory);
// InvalidArgument naming the type and the known types when `type` is unknown.
StatusOr<std::shared_ptr<Layer>> CreateLayer(const std::string& type, const LayerConfig& config);
std::vector<std::string> RegisteredLayers();

// Registers a layer type when the library (or the user's program) loads; aborts on a taken name.
struct LayerRegistration : Registrar<LayerFactory> {
  LayerRegistration(const std::string& type, LayerFactory factory)
      : Registrar<LayerFactory>(LayerRegistry(), type, std::move(factory)) {}
};

}  // namespace mlcore::nn

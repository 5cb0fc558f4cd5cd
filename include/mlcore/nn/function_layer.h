// A layer whose three steps are callables instead of a subclass: what Python's
// `class Scale(mlcore.nn.Layer)` becomes inside a model, and a quick way for a C++ program to
// write a layer without declaring a class. The layer owns its parameters (declared by the build
// step through AddParameter), so optimisers, checkpoints, summaries and the data-parallel
// reducer treat them like any built-in layer's. Register a factory under the layer's type
// (RegisterLayer) for saved models that contain it to load again.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/nn/layer.h"

namespace mlcore::nn {

class FunctionLayer;

struct FunctionLayerSteps {
  // Creates the parameters (FunctionLayer::AddParameter) and returns the per-sample output
  // shape for the per-sample `input_shape`. Required.
  std::function<StatusOr<Shape>(FunctionLayer& layer, const Shape& input_shape, uint64_t seed)>
      build;
  // y for x of shape [batch, *input_shape]; must have shape [batch, *output_shape]. Required.
  std::function<StatusOr<Tensor>(FunctionLayer& layer, const Tensor& x, bool training)> forward;
  // The gradient of the last training forward's input (shape of that x), after writing every
  // parameter's `grad`. May return an undefined tensor when !layer.input_grad_needed().
  // Required for training; a layer without it can still predict.
  std::function<StatusOr<Tensor>(FunctionLayer& layer, const Tensor& grad_output)> backward;
  // The input dtypes forward takes; float32 when unset.
  std::function<bool(DType)> accepts_dtype;
};

class FunctionLayer : public Layer {
 public:
  // `type` is the name in summaries and saved architectures; `config` is what a registered
  // factory receives to rebuild the layer.
  FunctionLayer(std::string type, LayerConfig config, FunctionLayerSteps steps);

  std::string type() const override { return type_; }
  LayerConfig config() const override { return config_; }
  std::vector<Parameter*> parameters() override;

  // Called from the build step: a zero-filled float32 parameter "<layer name>.<slot>" of
  // `shape` with a zero gradient. InvalidArgument for an empty or repeated slot or a bad shape.
  StatusOr<Parameter*> AddParameter(const std::string& slot, const Shape& shape);
  // The parameter declared as `slot`; NotFound naming the layer's slots otherwise.
  StatusOr<Parameter*> parameter(const std::string& slot);
  // The slots in the order they were declared.
  const std::vector<std::string>& slots() const { return slots_; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t seed) override;
  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override;
  StatusOr<Tensor> DoBackward(const Tensor& grad_output) override;
  bool AcceptsDType(DType dtype) const override;

 private:
  std::string type_;
  LayerConfig config_;
  FunctionLayerSteps steps_;
  std::vector<std::string> slots_;
  std::deque<Parameter> params_;  // a deque: pointers handed out stay valid as it grows
  Shape last_input_shape_;
};

// A FunctionLayer of `type`; InvalidArgument when `type` is empty or build/forward are unset.
StatusOr<std::shared_ptr<FunctionLayer>> MakeFunctionLayer(std::string type, LayerConfig config,
                                                           FunctionLayerSteps steps);

}  // namespace mlcore::nn

// A Sequential model: layers applied in order, one input and one output. The training loop,
// compile, evaluate, predict and device placement come from Model (model.h); Sequential adds
// the single-tensor building blocks a custom trainer uses (Forward, Backward with the
// per-parameter gradient hook) and Save/Load of safetensors weights with the architecture JSON.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/tensor.h"
#include "mlcore/nn/layer.h"
#include "mlcore/nn/model.h"

namespace mlcore::nn {

class Sequential;
StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir);

class Sequential : public Model {
 public:
  // Adds the layers in order; an error (a null or repeated layer) is returned by Build.
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers = {});
  // The same from the factories as they return, checked or not:
  //   Sequential model({Dense(64), ReLU(), Dropout(0.1), Dense(3)});
  // The first failed factory's error (Dense(0)) is returned by Build, Fit and Predict.
  Sequential(std::initializer_list<StatusOr<std::shared_ptr<Layer>>> layers);

  // Appends a layer; names it "<type>_<index>" when it has no name. Not after Build.
  Status Add(std::shared_ptr<Layer> layer);
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }

  // Builds every layer for per-sample input shape `input_shape` (e.g. {64}). Fit and Predict
  // build on first use from their data; `seed` makes the initial weights repeatable.
  Status Build(const Shape& input_shape, uint64_t seed = 0);
  bool built() const override { return built_; }
  const Shape& input_shape() const { return input_shape_; }

  std::string kind() const override { return "sequential"; }
  size_t num_inputs() const override { return 1; }
  std::vector<std::string> output_names() const override { return {"output"}; }
  std::vector<Layer*> AllLayers() const override;
  Status BuildFor(const std::vector<Shape>& input_shapes, uint64_t seed = 0) override;
  // One input "input" and one output "output"; the input is int64 when the first layer is an
  // Embedding.
  StatusOr<ModelSignature> signature() const override;

  // Building blocks for custom training loops (ForwardAll/BackwardAll with one tensor).
  StatusOr<Tensor> Forward(const Tensor& x, bool training);
  // Backpropagates d(loss)/d(output) through the last training Forward, calling the hook for
  // each parameter as its gradient becomes ready (last layer first).
  Status Backward(const Tensor& grad_output);

  // Writes <dir>/model.safetensors, <dir>/architecture.json, <dir>/signature.json and, when
  // compiled,
  // <dir>/optimizer.safetensors and <dir>/training_state.json. The directory is replaced
  // atomically: readers see the old checkpoint or the new one, never a mix.
  Status Save(const std::string& dir) const override;
  // Loads weights saved from a model of the same architecture into this one. Everything is
  // checked before anything is assigned: on error the model is unchanged.
  Status LoadWeights(const std::string& dir);

 protected:
  StatusOr<TensorList> DoForward(const TensorList& x, bool training) override;
  Status DoBackward(const TensorList& grad_outputs) override;

 private:
  friend StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir);
  static StatusOr<std::unique_ptr<Sequential>> LoadModelImpl(const std::string& dir);
  Status LoadWeightsImpl(const std::string& dir);

  std::vector<std::shared_ptr<Layer>> layers_;
  Status init_status_;
  bool built_ = false;
  Shape input_shape_;
};

// Rebuilds a model saved by Sequential::Save: architecture, weights and, when saved, the
// optimizer (with its state), loss, metrics and epoch count, ready to predict or continue Fit.
// LoadAnyModel (model.h) also restores graph models.
StatusOr<std::unique_ptr<Sequential>> LoadModel(const std::string& dir);

}  // namespace mlcore::nn

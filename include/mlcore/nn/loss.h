// A loss turns a batch of model outputs and targets into one number (the batch mean) and the
// gradient of that number with respect to the outputs, in one call: the fused softmax
// cross-entropy computes both from the same softmax, which is what keeps it stable.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/tensor.h"

namespace mlcore::nn {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // The mean loss over the batch. When `grad` is not null it receives d(loss)/d(output), a new
  // float32 tensor shaped like `output`. Shapes and dtypes are checked with messages naming the
  // loss and both shapes; labels out of range name the first offending index.
  virtual StatusOr<double> Compute(const Tensor& output, const Tensor& target,
                                   Tensor* grad) const = 0;
  // Compute with one weight per sample (Keras's sample_weight): `sample_weight` is float32
  // [batch] on the CPU (undefined: all 1, which is Compute exactly). The result is
  // sum_i(w_i * loss_i) / batch, Keras's default reduction "sum_over_batch_size", where loss_i
  // is sample i's loss (for binary_cross_entropy and mse the mean over its elements), and the
  // gradient scales row by row the same way. Weight values are the caller's to check (Model
  // does: finite and >= 0); a shape other than [batch] is InvalidArgument.
  virtual StatusOr<double> ComputeWeighted(const Tensor& output, const Tensor& target,
                                           const Tensor& sample_weight, Tensor* grad) const = 0;
  // Number of correct predictions in the batch, for the "accuracy" metric.
  virtual StatusOr<int64_t> CountCorrect(const Tensor& output, const Tensor& target) const = 0;
};

// "cross_entropy" (also "softmax_cross_entropy", "sparse_categorical_crossentropy"): output is
// logits [batch, classes], target integer class ids [batch] (int32 or int64) in [0, classes).
// "binary_cross_entropy" ("bce"): output is logits, target probabilities in [0, 1] of the same
// shape, computed as max(z,0) - z t + log(1 + exp(-|z|)) so that no sigmoid saturates.
// "mse" ("mean_squared_error"): mean of (output - target)^2 over all elements.
// InvalidArgument listing the known names when `name` is unknown.
StatusOr<std::shared_ptr<Loss>> MakeLoss(const std::string& name);

using LossFactory = std::function<StatusOr<std::shared_ptr<Loss>>()>;
// The losses by name ("loss" in messages), aliases included. A C++ program adds its own loss with
// RegisterLoss (AlreadyExists when the name is taken) or a static Registrar<LossFactory>; then
// CompileOptions::loss can name it.
Registry<LossFactory>& LossRegistry();
Status RegisterLoss(const std::string& name, LossFactory factory);
std::vector<std::string> LossNames();

}  // namespace mlcore::nn

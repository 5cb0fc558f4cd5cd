// An Optimizer updates parameters from their gradients. It keeps its per-parameter state
// (momentum, Adam moments) keyed by parameter name, so that state can be checkpointed and
// restored into a rebuilt model, and so that a data-parallel trainer can step the same way on
// every worker after reducing gradients.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "mlcore/core/parameter.h"
#include "mlcore/core/registry.h"
#include "mlcore/core/tensor.h"

namespace mlcore::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // "sgd", "adam", "adamw".
  virtual std::string name() const = 0;
  // Hyperparameters by name ("lr", "momentum", "beta1"...), enough for MakeOptimizer.
  virtual std::map<std::string, double> config() const = 0;

  // One update of every parameter with learning rate `lr` (the schedule's value for this step).
  // Parameters must be float32 on the CPU with value and grad of the same shape.
  virtual Status Step(absl::Span<Parameter* const> params, double lr) = 0;

  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr) { lr_ = lr; }
  // Number of Step calls made (restored from checkpoints).
  int64_t steps() const { return steps_; }

  // Per-parameter state as named tensors ("dense_0.kernel/m"), for checkpoints. The tensors are
  // views of the live buffers; LoadState copies.
  virtual std::map<std::string, Tensor> State() const = 0;
  // Replaces the state; every tensor of `state` must be one this optimiser knows how to use.
  virtual Status LoadState(const std::map<std::string, Tensor>& state, int64_t steps) = 0;

 protected:
  explicit Optimizer(double lr) : lr_(lr) {}
  double lr_;
  int64_t steps_ = 0;
};

struct SgdOptions {
  double lr = 0.01;
  // Heavy-ball momentum; 0.9 typically trains faster than plain SGD at the same lr.
  double momentum = 0.0;
  // Nesterov's look-ahead form; needs momentum > 0.
  bool nesterov = false;
  // L2 penalty added to the gradient (coupled, as in PyTorch's SGD).
  double weight_decay = 0.0;
};
StatusOr<std::shared_ptr<Optimizer>> Sgd(SgdOptions options = {});

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Adam: L2 added to the gradient. AdamW: decoupled decay, p -= lr * weight_decay * p.
  double weight_decay = 0.0;
};
StatusOr<std::shared_ptr<Optimizer>> Adam(AdamOptions options = {});
// AdamW's usual default weight_decay is 0.01; pass it explicitly.
StatusOr<std::shared_ptr<Optimizer>> AdamW(AdamOptions options);

// Hyperparameters by name, as Optimizer::config() returns them.
using OptimizerConfig = std::map<std::string, double>;
using OptimizerFactory =
    std::function<StatusOr<std::shared_ptr<Optimizer>>(const OptimizerConfig&)>;
// The optimizers by name ("optimizer" in messages): "sgd", "adam", "adamw", each registered from
// its own file. A C++ program adds its own with RegisterOptimizer (AlreadyExists when the name is
// taken) or a static Registrar<OptimizerFactory>, so checkpoints naming it load.
Registry<OptimizerFactory>& OptimizerRegistry();
Status RegisterOptimizer(const std::string& name, OptimizerFactory factory);
std::vector<std::string> OptimizerNames();

// By name with hyperparameters from config() (what checkpoints store). InvalidArgument listing
// the known names when `name` is unknown.
StatusOr<std::shared_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                   const OptimizerConfig& config);

}  // namespace mlcore::optim

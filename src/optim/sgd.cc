// SGD with optional heavy-ball or Nesterov momentum and coupled weight decay, following
// PyTorch's formulation (v = mu v + g; p -= lr (g + mu v) for Nesterov, p -= lr v otherwise) so
// that hyperparameters carry over from PyTorch code.
#include "optim/sgd.h"

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/optim/optimizer.h"
#include "optim/optimizer_util.h"

namespace mlcore::optim {
namespace {

class SgdOptimizer : public Optimizer {
 public:
  explicit SgdOptimizer(SgdOptions o) : Optimizer(o.lr), o_(o) {}
  std::string name() const override { return "sgd"; }
  std::map<std::string, double> config() const override {
    return {{"lr", lr_},
            {"momentum", o_.momentum},
            {"nesterov", o_.nesterov ? 1.0 : 0.0},
            {"weight_decay", o_.weight_decay}};
  }
  Status Step(absl::Span<Parameter* const> params, double lr) override {
    MLCORE_RETURN_IF_ERROR(internal::CheckParameters(name(), params));
    const float flr = static_cast<float>(lr);
    const float mu = static_cast<float>(o_.momentum);
    const float wd = static_cast<float>(o_.weight_decay);
    for (Parameter* p : params) {
      float* w = p->value.data<float>();
      const float* g = p->grad.data<float>();
      float* v = nullptr;
      if (mu != 0.0f) {
        MLCORE_ASSIGN_OR_RETURN(v, internal::Slot(state_, *p, "momentum"));
      }
      const bool first = steps_ == 0;
      if (p->value.device().is_cuda()) {
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::SgdStep(
            p->value.device().index, w, g, v, p->value.numel(), flr, mu, wd, o_.nesterov, first)));
        continue;
      }
      cpu::ParallelFor(p->value.numel(), 6, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          float d = g[i] + wd * w[i];
          if (v != nullptr) {
            v[i] = first ? d : mu * v[i] + d;
            d = o_.nesterov ? d + mu * v[i] : v[i];
          }
          w[i] -= flr * d;
        }
      });
    }
    ++steps_;
    return absl::OkStatus();
  }
  std::map<std::string, Tensor> State() const override { return state_; }
  Status LoadState(const std::map<std::string, Tensor>& state, int64_t steps) override {
    MLCORE_RETURN_IF_ERROR(internal::CheckState(name(), state, {"momentum"}));
    MLCORE_ASSIGN_OR_RETURN(state_, internal::CloneState(state));
    steps_ = steps;
    return absl::OkStatus();
  }

 private:
  SgdOptions o_;
  std::map<std::string, Tensor> state_;
};

}  // namespace

StatusOr<std::shared_ptr<Optimizer>> Sgd(SgdOptions o) {
  if (!(o.lr > 0) || o.momentum < 0 || o.weight_decay < 0) {
    return absl::InvalidArgumentError("SGD: lr must be > 0, momentum and weight_decay >= 0");
  }
  if (o.nesterov && o.momentum <= 0) {
    return absl::InvalidArgumentError("SGD: nesterov needs momentum > 0");
  }
  return std::shared_ptr<Optimizer>(std::make_shared<SgdOptimizer>(o));
}

namespace {

// From config() as checkpoints store it.
StatusOr<std::shared_ptr<Optimizer>> SgdFromConfig(const OptimizerConfig& c) {
  using internal::Get;
  return Sgd({Get(c, "lr", 0.01), Get(c, "momentum", 0), Get(c, "nesterov", 0) != 0,
              Get(c, "weight_decay", 0)});
}

Registrar<OptimizerFactory> sgd_registration(OptimizerRegistry(), "sgd", &SgdFromConfig);

}  // namespace

}  // namespace mlcore::optim

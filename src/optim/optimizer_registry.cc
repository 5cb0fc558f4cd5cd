// The optimizer registry; each built-in optimizer registers itself from its own file.
#include "mlcore/optim/optimizer.h"

namespace mlcore::optim {

Registry<OptimizerFactory>& OptimizerRegistry() {
  static auto* registry = new Registry<OptimizerFactory>("optimizer");
  return *registry;
}

Status RegisterOptimizer(const std::string& name, OptimizerFactory factory) {
  return OptimizerRegistry().Register(name, std::move(factory));
}

StatusOr<std::shared_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                   const OptimizerConfig& config) {
  return OptimizerRegistry().Create(name, config);
}

std::vector<std::string> OptimizerNames() { return OptimizerRegistry().Names(); }

}  // namespace mlcore::optim

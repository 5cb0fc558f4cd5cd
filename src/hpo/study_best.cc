// Study::BestValue and BestParams: the two readouts of the best trial a script asks for most.
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {

StatusOr<double> Study::BestValue() {
  MLCORE_ASSIGN_OR_RETURN(FrozenTrial best, BestTrial());
  return best.value;
}

StatusOr<std::map<std::string, ParamValue>> Study::BestParams() {
  MLCORE_ASSIGN_OR_RETURN(FrozenTrial best, BestTrial());
  return std::move(best.params);
}

}  // namespace mlcore::hpo

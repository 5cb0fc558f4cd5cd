// A Katib ParameterSpec in the layout of a Katib Experiment's spec.parameters[i], fields in the
// order Katib documents them.
#include <string>

#include "mlcore/hpo/katib.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {

std::string KatibParameterToJson(const KatibParameter& p) {
  nlohmann::ordered_json space = nlohmann::ordered_json::object();
  if (!p.min.empty()) space["min"] = p.min;
  if (!p.max.empty()) space["max"] = p.max;
  if (!p.step.empty()) space["step"] = p.step;
  if (!p.list.empty()) space["list"] = p.list;
  if (!p.distribution.empty()) space["distribution"] = p.distribution;
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["name"] = p.name;
  out["parameterType"] = p.parameter_type;
  out["feasibleSpace"] = std::move(space);
  return out.dump();
}

}  // namespace mlcore::hpo

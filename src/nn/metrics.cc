#include "mlcore/nn/metric.h"

namespace mlcore::nn {
namespace {

StatusOr<MetricSpec> NewAccuracy() { return MetricSpec{MetricKind::kAccuracy, "accuracy"}; }

// Also under the name Keras users write.
Registrar<MetricFactory> accuracy_registration(MetricRegistry(), "accuracy", &NewAccuracy);
Registrar<MetricFactory> acc_registration(MetricRegistry(), "acc", &NewAccuracy);

}  // namespace

Registry<MetricFactory>& MetricRegistry() {
  static auto* registry = new Registry<MetricFactory>("metric");
  return *registry;
}

StatusOr<MetricSpec> MakeMetric(const std::string& name) { return MetricRegistry().Create(name); }

std::vector<std::string> MetricNames() { return MetricRegistry().Names(); }

}  // namespace mlcore::nn

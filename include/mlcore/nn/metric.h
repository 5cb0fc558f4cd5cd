// Training metrics chosen by name (CompileOptions::metrics) through core's Registry, as losses
// and optimizers are: an unknown name is InvalidArgument "unknown metric 'x' (known: ...)", which
// Python raises as ValueError. A metric is computed by the model's epoch totals (Fit and Evaluate
// accumulate it batch by batch); what a name selects is which of those it reports, and under
// which log key.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"

namespace mlcore::nn {

// What the model can compute per batch and sum over an epoch.
enum class MetricKind {
  // Correct predictions over samples (Loss::CountCorrect): needs a classification loss.
  kAccuracy,
};

struct MetricSpec {
  MetricKind kind = MetricKind::kAccuracy;
  // The key in the epoch logs ("accuracy"; "val_accuracy", "<output>_accuracy" derive from it).
  std::string log_name;
};

using MetricFactory = std::function<StatusOr<MetricSpec>()>;
// The metrics by name ("metric" in messages): "accuracy" and its Keras alias "acc". A program may
// register another name for a kind the model computes.
Registry<MetricFactory>& MetricRegistry();
// The metric named `name`; InvalidArgument listing the known names when there is none.
StatusOr<MetricSpec> MakeMetric(const std::string& name);
std::vector<std::string> MetricNames();

}  // namespace mlcore::nn

// The gradient-ready hook as a GradientSync: what SetGradReadyHook installs, so that the hook and
// a data-parallel reducer are one mechanism with one place in the training step.
#include "mlcore/nn/gradient_sync.h"

#include <utility>

namespace mlcore::nn {
namespace {

class GradReadySync : public GradientSync {
 public:
  explicit GradReadySync(GradReadyHook hook) : hook_(std::move(hook)) {}
  Status OnGradientReady(Parameter& param) override { return hook_(param); }
  Status Finish(StepContext&) override { return absl::OkStatus(); }

 private:
  GradReadyHook hook_;
};

}  // namespace

std::shared_ptr<GradientSync> MakeGradReadySync(GradReadyHook hook) {
  return std::make_shared<GradReadySync>(std::move(hook));
}

}  // namespace mlcore::nn

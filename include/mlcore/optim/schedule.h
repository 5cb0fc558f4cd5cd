// Learning-rate schedules: the learning rate as a function of the optimizer step (0-based), the
// base rate being the optimizer's. Applied before every step by Sequential::Fit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mlcore/core/status.h"

namespace mlcore::optim {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double LearningRate(int64_t step, double base_lr) const = 0;
  // The schedule as JSON (e.g. {"type": "step", "step_size": 10, "gamma": 0.5}) so checkpoints
  // can restore it; empty for schedules defined outside mlcore, which checkpoints do not keep.
  virtual std::string ToJson() const { return ""; }
};

// base * gamma^(step / step_size).
StatusOr<std::shared_ptr<LRSchedule>> StepDecay(int64_t step_size, double gamma);
// Cosine from base down to min_lr over total_steps, then min_lr.
StatusOr<std::shared_ptr<LRSchedule>> CosineDecay(int64_t total_steps, double min_lr = 0.0);
// Linear ramp from base/warmup_steps to base over warmup_steps, then `after` (or constant base)
// evaluated at step - warmup_steps.
StatusOr<std::shared_ptr<LRSchedule>> LinearWarmup(int64_t warmup_steps,
                                                   std::shared_ptr<LRSchedule> after = nullptr);

// Rebuilds a schedule from LRSchedule::ToJson()'s text (what checkpoints store);
// InvalidArgument naming the bad field.
StatusOr<std::shared_ptr<LRSchedule>> ScheduleFromJson(const std::string& json);

}  // namespace mlcore::optim

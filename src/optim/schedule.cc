#include "mlcore/optim/schedule.h"

#include <cmath>
#include <numbers>

namespace mlcore::optim {
namespace {

class StepSchedule : public LRSchedule {
 public:
  StepSchedule(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {}
  double LearningRate(int64_t step, double base) const override {
    return base * std::pow(gamma_, static_cast<double>(step / step_size_));
  }

 private:
  int64_t step_size_;
  double gamma_;
};

class CosineSchedule : public LRSchedule {
 public:
  CosineSchedule(int64_t total, double min_lr) : total_(total), min_lr_(min_lr) {}
  double LearningRate(int64_t step, double base) const override {
    if (step >= total_) return min_lr_;
    const double progress = static_cast<double>(step) / static_cast<double>(total_);
    return min_lr_ + 0.5 * (base - min_lr_) * (1.0 + std::cos(std::numbers::pi * progress));
  }

 private:
  int64_t total_;
  double min_lr_;
};

class WarmupSchedule : public LRSchedule {
 public:
  WarmupSchedule(int64_t warmup, std::shared_ptr<LRSchedule> after)
      : warmup_(warmup), after_(std::move(after)) {}
  double LearningRate(int64_t step, double base) const override {
    if (step < warmup_) return base * static_cast<double>(step + 1) / static_cast<double>(warmup_);
    return after_ ? after_->LearningRate(step - warmup_, base) : base;
  }

 private:
  int64_t warmup_;
  std::shared_ptr<LRSchedule> after_;
};

}  // namespace

StatusOr<std::shared_ptr<LRSchedule>> StepDecay(int64_t step_size, double gamma) {
  if (step_size <= 0 || !(gamma > 0)) {
    return absl::InvalidArgumentError("StepDecay: step_size and gamma must be positive");
  }
  return std::shared_ptr<LRSchedule>(std::make_shared<StepSchedule>(step_size, gamma));
}

StatusOr<std::shared_ptr<LRSchedule>> CosineDecay(int64_t total_steps, double min_lr) {
  if (total_steps <= 0 || min_lr < 0) {
    return absl::InvalidArgumentError("CosineDecay: total_steps > 0 and min_lr >= 0 needed");
  }
  return std::shared_ptr<LRSchedule>(std::make_shared<CosineSchedule>(total_steps, min_lr));
}

StatusOr<std::shared_ptr<LRSchedule>> LinearWarmup(int64_t warmup_steps,
                                                   std::shared_ptr<LRSchedule> after) {
  if (warmup_steps <= 0) {
    return absl::InvalidArgumentError("LinearWarmup: warmup_steps must be positive");
  }
  return std::shared_ptr<LRSchedule>(
      std::make_shared<WarmupSchedule>(warmup_steps, std::move(after)));
}

}  // namespace mlcore::optim

#include "mlcore/optim/schedule.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

namespace mlcore::optim {
namespace {

class StepSchedule : public LRSchedule {
 public:
  StepSchedule(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {}
  double LearningRate(int64_t step, double base) const override {
    return base * std::pow(gamma_, static_cast<double>(step / step_size_));
  }
  std::string ToJson() const override {
    return nlohmann::json{{"type", "step"}, {"step_size", step_size_}, {"gamma", gamma_}}.dump();
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
  std::string ToJson() const override {
    return nlohmann::json{{"type", "cosine"}, {"total_steps", total_}, {"min_lr", min_lr_}}.dump();
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
  std::string ToJson() const override {
    nlohmann::json j{{"type", "warmup"}, {"warmup_steps", warmup_}};
    if (after_) {
      const std::string after = after_->ToJson();
      if (after.empty()) return "";  // a user schedule inside: not restorable
      j["after"] = nlohmann::json::parse(after);
    }
    return j.dump();
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

namespace {

StatusOr<std::shared_ptr<LRSchedule>> FromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return absl::InvalidArgumentError(where + ": a schedule needs a string \"type\"");
  }
  auto number = [&](const char* key) -> StatusOr<double> {
    if (!j.contains(key) || !j[key].is_number()) {
      return absl::InvalidArgumentError(where + "." + key + ": a number is needed");
    }
    return j[key].get<double>();
  };
  const std::string type = j["type"].get<std::string>();
  if (type == "step") {
    MLCORE_ASSIGN_OR_RETURN(double step_size, number("step_size"));
    MLCORE_ASSIGN_OR_RETURN(double gamma, number("gamma"));
    return StepDecay(static_cast<int64_t>(step_size), gamma);
  }
  if (type == "cosine") {
    MLCORE_ASSIGN_OR_RETURN(double total, number("total_steps"));
    MLCORE_ASSIGN_OR_RETURN(double min_lr, number("min_lr"));
    return CosineDecay(static_cast<int64_t>(total), min_lr);
  }
  if (type == "warmup") {
    MLCORE_ASSIGN_OR_RETURN(double warmup, number("warmup_steps"));
    std::shared_ptr<LRSchedule> after;
    if (j.contains("after")) {
      MLCORE_ASSIGN_OR_RETURN(after, FromJson(j["after"], where + ".after"));
    }
    return LinearWarmup(static_cast<int64_t>(warmup), std::move(after));
  }
  return absl::InvalidArgumentError(where + ".type: unknown schedule '" + type +
                                    "' (step, cosine, warmup)");
}

}  // namespace

StatusOr<std::shared_ptr<LRSchedule>> ScheduleFromJson(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("schedule: not valid JSON");
  return FromJson(j, "schedule");
}

}  // namespace mlcore::optim

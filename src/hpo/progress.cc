#include "mlcore/hpo/progress.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mlcore::hpo {

OptimizeProgress::OptimizeProgress(ProgressOptions options)
    : options_(options), start_(absl::Now()) {}

void OptimizeProgress::Record(const FrozenTrial& trial) {
  std::lock_guard<std::mutex> lock(mu_);
  ++done_;
  if (trial.state == TrialState::kFailed) ++failed_;
  if (trial.state == TrialState::kComplete && trial.has_value && trial.values.size() <= 1) {
    if (!best_ || IsBetter(options_.direction, trial.value, *best_)) best_ = trial.value;
  }
}

void OptimizeProgress::Update(const FrozenTrial& trial) {
  Record(trial);
  Draw();
}

void OptimizeProgress::Close() {
  Draw();
  std::ostream& os = options_.stream ? *options_.stream : std::cerr;
  os << "\n" << std::flush;
}

std::function<void(const FrozenTrial&)> OptimizeProgress::Callback(
    std::function<void(const FrozenTrial&)> next) {
  return [this, next = std::move(next)](const FrozenTrial& trial) {
    Update(trial);
    if (next) next(trial);
  };
}

std::optional<double> OptimizeProgress::Fraction() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.n_trials > 0) {
    return std::min(static_cast<double>(done_) / static_cast<double>(options_.n_trials), 1.0);
  }
  if (options_.timeout != absl::InfiniteDuration() && options_.timeout > absl::ZeroDuration()) {
    return std::min(absl::FDivDuration(absl::Now() - start_, options_.timeout), 1.0);
  }
  return std::nullopt;
}

std::string OptimizeProgress::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
  std::vector<std::string> parts;
  parts.push_back(options_.n_trials > 0 ? absl::StrFormat("%d/%d trials", done_, options_.n_trials)
                                        : absl::StrFormat("%d trials", done_));
  if (options_.n_trials <= 0 && options_.timeout != absl::InfiniteDuration()) {
    parts.push_back(absl::StrFormat("%.1f/%gs", elapsed, absl::ToDoubleSeconds(options_.timeout)));
  } else {
    parts.push_back(absl::StrFormat("%.1fs", elapsed));
  }
  if (failed_ > 0) parts.push_back(absl::StrFormat("%d failed", failed_));
  if (best_) parts.push_back(absl::StrFormat("best %.6g", *best_));
  return absl::StrJoin(parts, ", ");
}

std::string OptimizeProgress::Line() const {
  std::optional<double> fraction = Fraction();
  std::string bar;
  if (fraction) {
    const int filled = static_cast<int>(std::lround(*fraction * options_.width));
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "[" + string.
    bar.reserve(options_.width + 3);
    bar += '[';
    bar.append(filled, '#');
    bar.append(options_.width - filled, '.');
    bar += "] ";
  }
  return bar + Text();
}

void OptimizeProgress::Draw() {
  std::string line = Line();
  std::lock_guard<std::mutex> lock(mu_);  // one writer at a time: lines never interleave
  std::ostream& os = options_.stream ? *options_.stream : std::cerr;
  os << "\r" << line << std::flush;
}

}  // namespace mlcore::hpo

// Progress of an Optimize call as one line redrawn in place, as Python's show_progress_bar draws
// it: "[#########.....] 6/20 trials, 3.1s, 1 failed, best 0.0123". Hand Callback() to
// OptimizeOptions::callback (or call Update from your own), then Close() when Optimize returns.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

struct ProgressOptions {
  // The run's stop conditions, for the bar's fraction: trials out of n_trials (0: unknown), else
  // elapsed time out of timeout (infinite: no bar, just the counts).
  int64_t n_trials = 0;
  absl::Duration timeout = absl::InfiniteDuration();
  StudyDirection direction = StudyDirection::kMinimize;  // which value is the best
  std::ostream* stream = nullptr;                        // nullptr: std::cerr
  int width = 30;                                        // bar characters
};

class OptimizeProgress {
 public:
  explicit OptimizeProgress(ProgressOptions options = {});
  // Counts a finished trial and redraws. Thread-safe.
  void Update(const FrozenTrial& trial);
  // Counts it without drawing (for a caller that draws Line() itself, as Jupyter's does).
  void Record(const FrozenTrial& trial);
  // Redraws and ends the line.
  void Close();
  // For OptimizeOptions::callback; calls `next` (when set) after updating.
  std::function<void(const FrozenTrial&)> Callback(
      std::function<void(const FrozenTrial&)> next = nullptr);

  // "6/20 trials, 3.1s, 1 failed, best 0.0123" (parts without news left out).
  std::string Text() const;
  // Done fraction in [0, 1]; nullopt when neither n_trials nor a timeout is known.
  std::optional<double> Fraction() const;
  // The bar and the text, as drawn.
  std::string Line() const;

 private:
  void Draw();

  ProgressOptions options_;
  absl::Time start_;
  mutable std::mutex mu_;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  std::optional<double> best_;
};

}  // namespace mlcore::hpo

// Study::Optimize: workers that ask, run the objective and tell until a stop condition. The
// loop's shared state (counts, the first fatal error, the slot pool, the locks) is one
// OptimizeLoop; each worker thread runs OptimizeLoop::Work.
#include <cxxabi.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mlcore/core/logging.h"
#include "mlcore/hpo/resources.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

// Negative counts and times used to mean "no limit" by accident: n_trials=-1 ran for ever.
Status ValidateOptimizeOptions(const OptimizeOptions& options) {
  if (options.n_parallel < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("n_parallel must be >= 1, got ", options.n_parallel));
  }
  for (const auto& [name, value] : {std::pair<const char*, int64_t>{"n_trials", options.n_trials},
                                    {"max_trials", options.max_trials},
                                    {"max_failed_trials", options.max_failed_trials}}) {
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be >= 0 (0: no limit), got ", value));
    }
  }
  if (options.timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeout must be >= 0 (infinite: no limit), got ", absl::FormatDuration(options.timeout)));
  }
  return absl::OkStatus();
}

// The objective's values, or its error; an exception it throws becomes an Unknown error.
StatusOr<std::vector<double>> CallObjective(const MultiObjective& objective, Trial& trial) {
  try {
    return objective(trial);
  } catch (const std::exception& e) {
    return absl::UnknownError(absl::StrCat("the objective threw: ", e.what()));
  } catch (abi::__forced_unwind&) {
    throw;  // the thread is being ended (pthread_exit at interpreter exit)
  } catch (...) {
    return absl::UnknownError("the objective threw a non-standard exception");
  }
}

// Hands a slot back to its pool when the trial that held it ends, however the worker leaves.
struct LeaseReturn {
  ResourcePool* pool;
  std::optional<ResourceLease>& lease;
  ~LeaseReturn() {
    if (pool != nullptr && lease.has_value()) pool->Release(*lease);
  }
};

}  // namespace

class Study::OptimizeLoop {
 public:
  OptimizeLoop(Study& study, const MultiObjective& objective, const OptimizeOptions& options,
               std::unique_ptr<ResourcePool> pool)
      : study_(study),
        objective_(objective),
        options_(options),
        pool_(std::move(pool)),
        deadline_(options.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                              : absl::Now() + options.timeout) {}

  // Runs the workers to the end; the first fatal error, or OK.
  Status Run() {
    if (options_.n_parallel == 1) {
      Work();
    } else {
      std::vector<std::thread> threads;
      for (int i = 0; i < options_.n_parallel; ++i) threads.emplace_back([this] { Work(); });
      for (std::thread& t : threads) t.join();
    }
    return fatal_;
  }

 private:
  // One worker: a slot, an ask, the objective and its record, until the loop ends.
  void Work() {
    while (true) {
      // Slots first, outside the ask gate: a worker waiting for a GPU holds no trial (the
      // sampler sees only trials that really run) and does not block the others' asks.
      std::optional<ResourceLease> lease;
      if (pool_ != nullptr) {
        lease = pool_->Acquire([&] { return study_.stop_requested_.load() || Expired(); });
        if (!lease.has_value()) return;
      }
      LeaseReturn give_back{pool_.get(), lease};
      std::shared_ptr<Trial> trial = AskUnlessStopped();
      if (trial == nullptr) return;
      if (lease.has_value()) {
        trial->lease_devices_ = lease->gpus;
        trial->lease_visible_ = lease->cuda_visible_devices;
        trial->lease_cpus_ = lease->cpus;
      }
      if (!RunTrial(*trial)) return;
    }
  }

  bool Expired() const { return absl::Now() >= deadline_; }

  // The next trial, or null when the loop must stop. The stop check and the ask are one step,
  // so workers racing the end of a grid or of max_trials do not all pass the check and start
  // one trial too many each.
  std::shared_ptr<Trial> AskUnlessStopped() {
    std::unique_lock<std::mutex> gate(ask_gate_);
    if (ShouldStop()) return nullptr;
    int64_t index = started_.fetch_add(1);
    if (options_.n_trials > 0 && index >= options_.n_trials) return nullptr;
    StatusOr<std::shared_ptr<Trial>> asked = study_.Ask();
    gate.unlock();
    if (!asked.ok()) {
      Fail(asked.status());
      return nullptr;
    }
    return *std::move(asked);
  }

  bool ShouldStop() {
    if (study_.stop_requested_ || Expired()) return true;
    if (options_.max_failed_trials > 0 && failed_.load() >= options_.max_failed_trials) {
      return true;
    }
    if (options_.max_trials <= 0 && study_.sampler_->name() != "grid") return false;
    StatusOr<SamplerContext> context = study_.Context();
    if (!context.ok()) return true;
    if (options_.max_trials > 0 &&
        static_cast<int64_t>(context->trials.size()) >= options_.max_trials) {
      return true;
    }
    std::lock_guard<std::mutex> lock(study_.sampler_mu_);
    return study_.sampler_->Exhausted(*context);
  }

  // Runs the objective on `trial` and records the result; false when the loop must end.
  bool RunTrial(Trial& trial) {
    StatusOr<std::vector<double>> result = CallObjective(objective_, trial);
    Status told;
    bool uncaught = false;
    if (result.ok()) {
      told = study_.Finish(trial, TrialState::kComplete, *std::move(result), "");
    } else if (IsTrialPruned(result.status())) {
      told = study_.Finish(trial, TrialState::kPruned, {}, "");
    } else {
      uncaught = !options_.catch_error || !options_.catch_error(result.status());
      // The other workers stop asking now, not only once this trial's record is written.
      if (uncaught) study_.stop_requested_ = true;
      told = study_.Finish(trial, TrialState::kFailed, {}, std::string(result.status().message()));
    }
    if (!told.ok()) {
      Fail(told);
      return false;
    }
    if (uncaught) {
      Fail(WithPrefix(result.status(), absl::StrCat("study '", study_.record_.name, "': trial ",
                                                    trial.number(), " failed: ")));
    }
    Finished(trial.record());
    return true;
  }

  // After a trial's record is written: counts a failure, checks the goal, calls back.
  void Finished(const FrozenTrial& done) {
    if (done.state == TrialState::kFailed) {
      failed_.fetch_add(1);
      MLCORE_LOG(Warning) << "study '" << study_.record_.name << "': trial " << done.number
                          << " failed: " << done.error;
    }
    const std::optional<double>& goal = options_.goal;
    if (done.state == TrialState::kComplete && goal.has_value() &&
        (done.value == *goal || IsBetter(study_.record_.direction, done.value, *goal))) {
      study_.stop_requested_ = true;
    }
    if (options_.callback) {
      std::lock_guard<std::mutex> lock(callback_mu_);
      options_.callback(done);
    }
  }

  // Keeps the first fatal error and stops every worker.
  void Fail(const Status& error) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (fatal_.ok()) fatal_ = error;
    study_.stop_requested_ = true;
  }

  Study& study_;
  const MultiObjective& objective_;
  const OptimizeOptions& options_;
  const std::unique_ptr<ResourcePool> pool_;
  const absl::Time deadline_;
  std::atomic<int64_t> started_{0};
  std::atomic<int64_t> failed_{0};
  std::mutex ask_gate_;
  std::mutex callback_mu_;
  std::mutex error_mu_;  // guards fatal_
  Status fatal_;
};

std::function<bool(const Status&)> CatchAllErrors() {
  return [](const Status&) { return true; };
}

Status Study::Optimize(const Objective& objective, const OptimizeOptions& options) {
  if (multi_objective()) {
    return absl::InvalidArgumentError(
        absl::StrCat("study '", record_.name, "' has ", record_.directions.size(),
                     " objectives; its objective must return one value per objective "
                     "(OptimizeMultiObjective)"));
  }
  return OptimizeMultiObjective(
      [&objective](Trial& trial) -> StatusOr<std::vector<double>> {
        MLCORE_ASSIGN_OR_RETURN(double v, objective(trial));
        return std::vector<double>{v};
      },
      options);
}

Status Study::OptimizeMultiObjective(const MultiObjective& objective,
                                     const OptimizeOptions& options) {
  if (options.goal.has_value() && multi_objective()) {
    return absl::InvalidArgumentError(
        absl::StrCat("study '", record_.name, "': a goal needs a single objective"));
  }
  MLCORE_RETURN_IF_ERROR(ValidateOptimizeOptions(options));
  std::unique_ptr<ResourcePool> pool;
  if (!options.resources.empty()) {
    MLCORE_ASSIGN_OR_RETURN(pool, ResourcePool::Create(options.resources));
  }
  stop_requested_ = false;
  return OptimizeLoop(*this, objective, options, std::move(pool)).Run();
}

}  // namespace mlcore::hpo

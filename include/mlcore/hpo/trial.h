// A trial: one evaluation of the objective at one point of the search space. FrozenTrial is the
// record (what the storage keeps and samplers read); Trial is the live handle an objective uses
// to ask for parameters and report progress, bound to its study.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"

namespace mlcore::hpo {

enum class TrialState {
  kRunning,   // asked, not yet told
  kComplete,  // finished with a finite value
  kPruned,    // stopped early by a pruner; its value is its last intermediate value
  kFailed,    // the objective raised, returned NaN/inf, or its process died; see error
  kWaiting,   // queued (enqueued parameters or re-queued after a crash), not yet started
};

const char* TrialStateName(TrialState state);  // "running", "complete", ...
StatusOr<TrialState> ParseTrialState(std::string_view name);
inline bool IsFinished(TrialState s) {
  return s == TrialState::kComplete || s == TrialState::kPruned || s == TrialState::kFailed;
}

enum class StudyDirection { kMinimize, kMaximize };
const char* StudyDirectionName(StudyDirection direction);  // "minimize" | "maximize"
StatusOr<StudyDirection> ParseStudyDirection(std::string_view name);
// Whether value a is strictly better than b in this direction (lower when minimising); false
// where either is NaN. The one comparison best-trial tracking, pruners and goals share.
inline bool IsBetter(StudyDirection direction, double a, double b) {
  return direction == StudyDirection::kMinimize ? a < b : a > b;
}

struct FrozenTrial {
  int64_t id = -1;      // unique within its storage
  int64_t number = -1;  // 0, 1, 2... within its study, in order of creation, never reused
  TrialState state = TrialState::kRunning;
  // Set for complete trials (and for pruned ones: the last intermediate value); NaN otherwise.
  double value = 0.0;
  bool has_value = false;
  // Every objective's value, in the study's order: {value} in a single-objective study, one
  // per direction in a multi-objective one; empty when has_value is false.
  std::vector<double> values;
  std::map<std::string, ParamValue> params;
  std::map<std::string, Distribution> distributions;
  std::map<int64_t, double> intermediate_values;  // step -> value
  std::string error;                              // why it failed
  // What the objective attached to the trial (Trial::SetUserAttr): key -> a JSON value, e.g. the
  // id of the pipeline run that evaluated it.
  std::map<std::string, std::string> user_attrs;
  absl::Time started = absl::InfinitePast();
  absl::Time finished = absl::InfinitePast();

  // The parameter's internal (sampler) number; nullopt when the trial has no such parameter.
  std::optional<double> InternalParam(const std::string& name) const;
  // The last reported (step, value); nullopt when nothing was reported.
  std::optional<std::pair<int64_t, double>> LastIntermediate() const;
};

// An immutable snapshot of a study's trials, shared rather than copied: samplers read thousands
// of trials per ask, so a snapshot costs one pointer per trial.
using TrialList = std::vector<std::shared_ptr<const FrozenTrial>>;

class Study;

// Handed to the objective. Suggest* sample a parameter (or return the fixed value of a queued
// trial); asking again for a name returns the same value, and asking with a different range is
// InvalidArgument. Safe to use from the objective's thread while other trials run in parallel.
class Trial {
 public:
  Trial(Study* study, FrozenTrial record);

  int64_t number() const { return number_; }
  int64_t id() const { return id_; }

  StatusOr<double> SuggestFloat(const std::string& name, double low, double high, bool log = false,
                                std::optional<double> step = std::nullopt);
  StatusOr<int64_t> SuggestInt(const std::string& name, int64_t low, int64_t high, bool log = false,
                               int64_t step = 1);
  StatusOr<ParamValue> SuggestCategorical(const std::string& name, std::vector<ParamValue> choices);
  StatusOr<ParamValue> Suggest(const std::string& name, const Distribution& distribution);

  // Suggest, Report and ShouldPrune refuse (FailedPrecondition) once the trial was told.
  // Records an intermediate value at `step` (epochs, iterations: any increasing integer).
  // Reports are buffered and written to the storage in one transaction at the next ShouldPrune
  // or when the trial is told, so pruners in other processes see them from then on; a report
  // loop costs no commit per step. Reporting a step twice keeps the first value, as a
  // restarted epoch loop should not overwrite history.
  Status Report(double value, int64_t step);
  // Asks the study's pruner whether this trial should stop now. Always false without a pruner.
  StatusOr<bool> ShouldPrune();

  // Attaches `json_value` (a JSON document: "3", "\"run-12\"", "{...}") under `key`, in the
  // storage at once. InvalidArgument when the value is not JSON.
  Status SetUserAttr(const std::string& key, const std::string& json_value);

  // The CUDA devices (ordinals of this process) the trial holds for itself while Optimize runs
  // it with OptimizeOptions::resources.gpus_per_trial > 0; empty otherwise. An in-process
  // objective puts its work on Device::CUDA(devices()[0]); no other running trial has them.
  const std::vector<int>& devices() const { return lease_devices_; }
  // The same devices as CUDA_VISIBLE_DEVICES for a subprocess ("" without GPUs); command trials
  // get it in their environment.
  const std::string& cuda_visible_devices() const { return lease_visible_; }
  // CPU cores the trial holds (OptimizeOptions::resources.cpus_per_trial); 0 without CPU slots.
  int cpus() const { return lease_cpus_; }

  std::map<std::string, ParamValue> params() const;
  FrozenTrial record() const;

 private:
  friend class Study;
  // Writes the buffered reports to the storage.
  Status FlushReports();
  // FailedPrecondition naming `what` once the trial is finished: a told trial never changes
  // (no new parameter, report or pruning question). Called with mu_ held.
  Status CheckRunningLocked(const std::string& what) const;

  Study* study_;
  int64_t number_;
  int64_t id_;
  mutable std::mutex mu_;
  FrozenTrial record_;
  std::vector<std::pair<int64_t, double>> pending_reports_;
  // Set by Optimize before the objective runs, never changed while it runs.
  std::vector<int> lease_devices_;
  std::string lease_visible_;
  int lease_cpus_ = 0;
};

// Status an objective returns (or Python's TrialPruned becomes) after ShouldPrune said yes.
Status TrialPrunedError(std::string_view message = "pruned");
bool IsTrialPruned(const Status& status);

}  // namespace mlcore::hpo

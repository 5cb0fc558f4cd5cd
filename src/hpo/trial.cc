#include "mlcore/hpo/trial.h"

#include <cmath>
#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "mlcore/hpo/study.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {
constexpr char kPrunedPayload[] = "mlcore.hpo/trial_pruned";
}

const char* TrialStateName(TrialState state) {
  switch (state) {
    case TrialState::kRunning:
      return "running";
    case TrialState::kComplete:
      return "complete";
    case TrialState::kPruned:
      return "pruned";
    case TrialState::kFailed:
      return "failed";
    case TrialState::kWaiting:
      return "waiting";
  }
  return "unknown";
}

StatusOr<TrialState> ParseTrialState(std::string_view name) {
  for (TrialState s : {TrialState::kRunning, TrialState::kComplete, TrialState::kPruned,
                       TrialState::kFailed, TrialState::kWaiting}) {
    if (name == TrialStateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown trial state '", std::string(name),
                                                 "' (running, complete, pruned, failed, waiting)"));
}

const char* StudyDirectionName(StudyDirection direction) {
  return direction == StudyDirection::kMinimize ? "minimize" : "maximize";
}

StatusOr<StudyDirection> ParseStudyDirection(std::string_view name) {
  if (name == "minimize") return StudyDirection::kMinimize;
  if (name == "maximize") return StudyDirection::kMaximize;
  return absl::InvalidArgumentError(
      absl::StrCat("direction must be 'minimize' or 'maximize', not '", std::string(name), "'"));
}

std::optional<double> FrozenTrial::InternalParam(const std::string& name) const {
  auto p = params.find(name);
  auto d = distributions.find(name);
  if (p == params.end() || d == distributions.end()) return std::nullopt;
  StatusOr<double> v = d->second.ToInternal(p->second);
  if (!v.ok()) return std::nullopt;
  return *v;
}

std::optional<std::pair<int64_t, double>> FrozenTrial::LastIntermediate() const {
  if (intermediate_values.empty()) return std::nullopt;
  return *intermediate_values.rbegin();
}

Status TrialPrunedError(std::string_view message) {
  Status s = absl::AbortedError(absl::StrCat("trial pruned: ", std::string(message)));
  s.SetPayload(kPrunedPayload, absl::Cord("1"));
  return s;
}

bool IsTrialPruned(const Status& status) {
  return !status.ok() && status.GetPayload(kPrunedPayload).has_value();
}

Trial::Trial(Study* study, FrozenTrial record)
    : study_(study), number_(record.number), id_(record.id), record_(std::move(record)) {}

StatusOr<double> Trial::SuggestFloat(const std::string& name, double low, double high, bool log,
                                     std::optional<double> step) {
  StatusOr<Distribution> d = Distribution::Float(low, high, log, step);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", name, "': ", d.status().message()));
  }
  MLCORE_ASSIGN_OR_RETURN(ParamValue v, Suggest(name, *d));
  return std::get<double>(v);
}

StatusOr<int64_t> Trial::SuggestInt(const std::string& name, int64_t low, int64_t high, bool log,
                                    int64_t step) {
  StatusOr<Distribution> d = Distribution::Int(low, high, log, step);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", name, "': ", d.status().message()));
  }
  MLCORE_ASSIGN_OR_RETURN(ParamValue v, Suggest(name, *d));
  return std::get<int64_t>(v);
}

StatusOr<ParamValue> Trial::SuggestCategorical(const std::string& name,
                                               std::vector<ParamValue> choices) {
  StatusOr<Distribution> d = Distribution::Categorical(std::move(choices));
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", name, "': ", d.status().message()));
  }
  return Suggest(name, *d);
}

Status Trial::CheckRunningLocked(const std::string& what) const {
  if (!IsFinished(record_.state)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("trial ", number_, " is ",
                                                    TrialStateName(record_.state), ": ", what,
                                                    " after tell is refused (a finished trial "
                                                    "never changes)"));
}

StatusOr<ParamValue> Trial::Suggest(const std::string& name, const Distribution& distribution) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_RETURN_IF_ERROR(CheckRunningLocked(absl::StrCat("suggesting '", name, "'")));
    auto p = record_.params.find(name);
    if (p != record_.params.end()) {
      auto d = record_.distributions.find(name);
      if (d != record_.distributions.end()) {
        if (d->second != distribution) {
          return absl::InvalidArgumentError(absl::StrCat(
              "parameter '", name, "' of trial ", number_, " was suggested as ",
              d->second.DebugString(), " and is now asked as ", distribution.DebugString()));
        }
        return p->second;
      }
    }
  }
  return study_->SampleParam(*this, name, distribution);
}

Status Trial::Report(double value, int64_t step) {
  if (step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial ", number_, ": report step must be >= 0, got ", step));
  }
  std::lock_guard<std::mutex> lock(mu_);
  MLCORE_RETURN_IF_ERROR(CheckRunningLocked("report"));
  if (record_.intermediate_values.emplace(step, value).second) {
    pending_reports_.emplace_back(step, value);
  }
  return absl::OkStatus();
}

Status Trial::FlushReports() {
  std::vector<std::pair<int64_t, double>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending.swap(pending_reports_);
  }
  if (pending.empty()) return absl::OkStatus();
  Status s = study_->storage_->ReportIntermediates(id_, pending);
  if (!s.ok()) {
    // Keep them for the next flush (or the final tell), ahead of any reported meanwhile.
    std::lock_guard<std::mutex> lock(mu_);
    pending.insert(pending.end(), pending_reports_.begin(), pending_reports_.end());
    pending_reports_.swap(pending);
  }
  return s;
}

StatusOr<bool> Trial::ShouldPrune() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_RETURN_IF_ERROR(CheckRunningLocked("should_prune"));
  }
  MLCORE_RETURN_IF_ERROR(FlushReports());
  return study_->ShouldPrune(record());
}

Status Trial::SetUserAttr(const std::string& key, const std::string& json_value) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("trial ", number_, ": user attr key is empty"));
  }
  if (!nlohmann::json::accept(json_value)) {
    return absl::InvalidArgumentError(absl::StrCat("trial ", number_, ": user attr '", key,
                                                   "' is not a JSON value: ", json_value));
  }
  MLCORE_RETURN_IF_ERROR(study_->storage_->SetTrialUserAttr(id_, key, json_value));
  std::lock_guard<std::mutex> lock(mu_);
  record_.user_attrs[key] = json_value;
  return absl::OkStatus();
}

std::map<std::string, ParamValue> Trial::params() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_.params;
}

FrozenTrial Trial::record() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_;
}

}  // namespace mlcore::hpo

#include "mlcore/hpo/study.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "mlcore/core/logging.h"
#include "mlcore/hpo/pareto.h"

namespace mlcore::hpo {
namespace {

std::string GeneratedName() {
  std::random_device rd;
  return absl::StrCat("study-", absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()),
                      "-", absl::StrFormat("%06x", rd() & 0xffffff));
}

// Samplers that need no single objective to rank trials (they ignore values, or handle several).
bool HandlesSeveralObjectives(const std::string& sampler) {
  return sampler == "nsga2" || sampler == "auto" || sampler == "random" || sampler == "grid" ||
         sampler == "sobol" || sampler.rfind("python", 0) == 0;
}

Status CheckMultiObjective(const std::string& study, const std::vector<StudyDirection>& directions,
                           const Sampler& sampler, const Pruner* pruner) {
  if (directions.size() < 2) return absl::OkStatus();
  if (pruner != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("study '", study, "' has ", directions.size(),
                                                   " objectives; pruner '", pruner->name(),
                                                   "' compares one intermediate value"));
  }
  if (!HandlesSeveralObjectives(sampler.name())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "study '", study, "' has ", directions.size(), " objectives; sampler '", sampler.name(),
        "' optimizes one (use nsga2, random, grid, sobol or a Python sampler)"));
  }
  return absl::OkStatus();
}

}  // namespace

Study::Study(StudyRecord record, std::shared_ptr<Storage> storage, std::shared_ptr<Sampler> sampler,
             std::shared_ptr<Pruner> pruner, std::optional<SearchSpace> space)
    : record_(std::move(record)),
      storage_(std::move(storage)),
      sampler_(std::move(sampler)),
      pruner_(std::move(pruner)),
      space_(std::move(space)) {}

Study::~Study() = default;

StatusOr<std::unique_ptr<Study>> Study::Create(StudyOptions options) {
  return Build(std::move(options), /*create=*/true);
}

StatusOr<std::unique_ptr<Study>> Study::Load(StudyOptions options) {
  if (options.name.empty()) return absl::InvalidArgumentError("Study::Load needs a study name");
  return Build(std::move(options), /*create=*/false);
}

StatusOr<std::unique_ptr<Study>> Study::Build(StudyOptions options, bool create) {
  std::shared_ptr<Storage> storage = options.storage_object;
  if (storage == nullptr) {
    std::string url = options.storage;
    if (url.empty()) url = options.name.empty() ? "memory" : "sqlite";
    MLCORE_ASSIGN_OR_RETURN(storage, OpenStorage(url, options.busy_timeout));
  }
  std::shared_ptr<Sampler> sampler = options.sampler_object;
  if (sampler == nullptr) {
    std::string name = options.sampler;
    if (options.directions.size() > 1 && (name == "tpe" || name == "auto")) name = "nsga2";
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> s,
                            CreateSampler(name, options.sampler_options));
    sampler = std::move(s);
  }
  std::shared_ptr<Pruner> pruner = options.pruner_object;
  if (pruner == nullptr) {
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Pruner> p,
                            CreatePruner(options.pruner, options.pruner_options));
    pruner = std::move(p);
  }
  std::vector<StudyDirection> directions = options.directions;
  if (directions.empty()) directions = {options.direction};
  if (create) {
    // Refused before the study is created, so a bad combination leaves nothing behind.
    MLCORE_RETURN_IF_ERROR(CheckMultiObjective(options.name, directions, *sampler, pruner.get()));
  }
  StudyRecord record;
  bool loaded = false;
  if (create) {
    if (options.name.empty()) options.name = GeneratedName();
    StatusOr<StudyRecord> created = storage->CreateStudy(options.name, directions);
    if (created.ok()) {
      record = *created;
    } else if (absl::IsAlreadyExists(created.status()) && options.load_if_exists) {
      MLCORE_ASSIGN_OR_RETURN(record, storage->LoadStudy(options.name));
      loaded = true;
    } else {
      return created.status();
    }
  } else {
    MLCORE_ASSIGN_OR_RETURN(record, storage->LoadStudy(options.name));
    loaded = true;
  }
  if (loaded && !options.directions.empty() && options.directions != record.directions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "study '", record.name, "' exists with ", record.directions.size(),
        " objective(s) in other directions than the ", options.directions.size(), " asked for"));
  }
  if (record.directions.size() > 1 && options.sampler_object == nullptr &&
      (options.sampler == "tpe" || options.sampler == "auto") &&
      sampler->name() == options.sampler) {
    // The default sampler of a loaded multi-objective study: NSGA-II, not single-objective TPE.
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> s,
                            CreateSampler("nsga2", options.sampler_options));
    sampler = std::move(s);
  }
  MLCORE_RETURN_IF_ERROR(
      CheckMultiObjective(record.name, record.directions, *sampler, pruner.get()));
  if (loaded && options.recover_stale_trials) {
    MLCORE_ASSIGN_OR_RETURN(int recovered,
                            storage->RecoverStaleTrials(record.id, options.requeue_stale_trials));
    if (recovered > 0) {
      MLCORE_LOG(Info) << "study '" << record.name << "': " << recovered
                       << " trial(s) of dead processes "
                       << (options.requeue_stale_trials ? "re-queued" : "marked failed");
    }
  }
  return std::unique_ptr<Study>(new Study(std::move(record), std::move(storage), std::move(sampler),
                                          std::move(pruner), std::move(options.search_space)));
}

StatusOr<SamplerContext> Study::Context(bool for_sampler) {
  SamplerContext context;
  context.direction = record_.direction;
  context.directions = record_.directions;
  if (!for_sampler || sampler_->UsesTrials()) {
    MLCORE_ASSIGN_OR_RETURN(context.trials, storage_->GetTrials(record_.id));
  }
  context.declared_space = space_.has_value() ? &*space_ : nullptr;
  context.storage = storage_.get();
  context.study_id = record_.id;
  return context;
}

StatusOr<std::shared_ptr<Trial>> Study::Ask() {
  MLCORE_ASSIGN_OR_RETURN(FrozenTrial record, storage_->StartTrial(record_.id));
  auto trial = std::make_shared<Trial>(this, record);
  auto ask = std::make_shared<AskState>();
  MLCORE_ASSIGN_OR_RETURN(ask->context, Context(/*for_sampler=*/true));
  {
    std::lock_guard<std::mutex> lock(sampler_mu_);
    MLCORE_ASSIGN_OR_RETURN(ask->relative, sampler_->SampleRelative(ask->context, record));
  }
  {
    std::lock_guard<std::mutex> lock(ask_mu_);
    asks_[record.number] = ask;
  }
  if (space_.has_value()) {
    Status s = SampleDeclaredSpace(*trial);
    if (!s.ok()) {
      Status told = Tell(*trial, TrialState::kFailed, std::nullopt, std::string(s.message()));
      if (!told.ok()) return told;
      return s;
    }
  }
  return trial;
}

Status Study::SampleDeclaredSpace(Trial& trial) {
  for (const SearchSpace::Param& p : space_->params()) {
    if (p.condition.has_value()) {
      std::map<std::string, ParamValue> params = trial.params();
      auto parent = params.find(p.condition->parent);
      if (parent == params.end()) continue;
      bool active = false;
      for (const ParamValue& v : p.condition->values) active |= (v == parent->second);
      if (!active) continue;
    }
    MLCORE_RETURN_IF_ERROR(trial.Suggest(p.name, p.distribution).status());
  }
  return absl::OkStatus();
}

StatusOr<ParamValue> Study::SampleParam(Trial& trial, const std::string& name,
                                        const Distribution& distribution) {
  FrozenTrial record = trial.record();
  double internal;
  auto fixed = record.params.find(name);
  if (fixed != record.params.end()) {
    // An enqueued value (no distribution yet): it must fit the space the objective asks for.
    StatusOr<double> v = distribution.ToInternal(fixed->second);
    if (!v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("trial ", trial.number(), ": enqueued '", name,
                                                     "': ", v.status().message()));
    }
    internal = *v;
  } else {
    std::shared_ptr<AskState> ask;
    {
      std::lock_guard<std::mutex> lock(ask_mu_);
      auto it = asks_.find(trial.number());
      if (it != asks_.end()) ask = it->second;
    }
    if (ask == nullptr) {
      // A trial asked by another Study object (ask/tell across processes): sample from now.
      ask = std::make_shared<AskState>();
      MLCORE_ASSIGN_OR_RETURN(ask->context, Context(/*for_sampler=*/true));
    }
    auto rel = ask->relative.find(name);
    if (rel != ask->relative.end() && distribution.Contains(distribution.Snap(rel->second))) {
      internal = rel->second;
    } else {
      std::lock_guard<std::mutex> lock(sampler_mu_);
      MLCORE_ASSIGN_OR_RETURN(
          internal, sampler_->SampleIndependent(ask->context, record, name, distribution));
    }
  }
  internal = distribution.Snap(internal);
  MLCORE_RETURN_IF_ERROR(storage_->SetParam(trial.id(), name, distribution, internal));
  ParamValue value = distribution.ToExternal(internal);
  std::lock_guard<std::mutex> lock(trial.mu_);
  trial.record_.params[name] = value;
  trial.record_.distributions.insert_or_assign(name, distribution);
  return value;
}

StatusOr<bool> Study::ShouldPrune(const FrozenTrial& record) {
  if (pruner_ == nullptr || record.intermediate_values.empty()) return false;
  PrunerContext context;
  context.direction = record_.direction;
  MLCORE_ASSIGN_OR_RETURN(context.trials, storage_->GetTrials(record_.id));
  return pruner_->Prune(context, record);
}

Status Study::Tell(Trial& trial, TrialState state, std::optional<double> value,
                   const std::string& error) {
  std::vector<double> values;
  if (value.has_value()) values.push_back(*value);
  if (state == TrialState::kComplete && value.has_value() && multi_objective()) {
    return Finish(trial, TrialState::kFailed, {},
                  absl::StrCat("the objective returned 1 value; the study has ",
                               record_.directions.size(), " objectives"));
  }
  return Finish(trial, state, std::move(values), error);
}

Status Study::TellValues(Trial& trial, TrialState state, const std::vector<double>& values,
                         const std::string& error) {
  return Finish(trial, state, values, error);
}

Status Study::Finish(Trial& trial, TrialState state, std::vector<double> values,
                     const std::string& error) {
  std::string reason = error;
  const StudyRecord& owner = trial.study_->record_;
  if (trial.study_ != this &&
      (owner.id != record_.id || owner.name != record_.name || owner.name.empty())) {
    // The storage finishes trials by id: told to the wrong study, it would finish the other
    // study's trial and leave this one's running.
    return absl::InvalidArgumentError(absl::StrCat("trial ", trial.number(), " belongs to study '",
                                                   owner.name, "', not '", record_.name, "'"));
  }
  if (state == TrialState::kRunning || state == TrialState::kWaiting) {
    return absl::InvalidArgumentError(absl::StrCat("trial ", trial.number(),
                                                   ": tell needs complete, pruned or failed, not ",
                                                   TrialStateName(state)));
  }
  if (state == TrialState::kComplete) {
    if (values.empty()) {
      state = TrialState::kFailed;
      reason = "the objective returned no value";
    } else if (values.size() != record_.directions.size()) {
      state = TrialState::kFailed;
      reason = absl::StrCat("the objective returned ", values.size(), " values; the study has ",
                            record_.directions.size(), " objective(s)");
    } else {
      for (double v : values) {
        if (std::isfinite(v)) continue;
        state = TrialState::kFailed;
        reason = absl::StrCat("the objective returned ",
                              std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        break;
      }
    }
  }
  if (state == TrialState::kPruned && values.empty() && !multi_objective()) {
    std::optional<std::pair<int64_t, double>> last = trial.record().LastIntermediate();
    if (last.has_value() && std::isfinite(last->second)) values = {last->second};
  }
  if (state == TrialState::kFailed) values.clear();
  std::vector<std::pair<int64_t, double>> reports;
  {
    std::lock_guard<std::mutex> lock(trial.mu_);
    reports.swap(trial.pending_reports_);
  }
  Status s = storage_->FinishTrial(trial.id(), state, values, reason, reports);
  if (!s.ok()) {
    // Nothing was written (one transaction): the trial stays running and a retried tell sends
    // the same intermediate values again, ahead of any reported since.
    std::lock_guard<std::mutex> lock(trial.mu_);
    reports.insert(reports.end(), trial.pending_reports_.begin(), trial.pending_reports_.end());
    trial.pending_reports_.swap(reports);
    return WithPrefix(s, absl::StrCat("study '", record_.name, "', trial ", trial.number(),
                                      ": recording it as ", TrialStateName(state), " failed: "));
  }
  {
    std::lock_guard<std::mutex> lock(ask_mu_);
    asks_.erase(trial.number());
  }
  std::lock_guard<std::mutex> lock(trial.mu_);
  trial.record_.state = state;
  trial.record_.has_value = !values.empty();
  trial.record_.value = values.empty() ? std::nan("") : values[0];
  trial.record_.values = std::move(values);
  trial.record_.error = reason;
  trial.record_.finished = absl::Now();
  return absl::OkStatus();
}

Status Study::Tell(int64_t number, TrialState state, std::optional<double> value,
                   const std::string& error) {
  MLCORE_ASSIGN_OR_RETURN(TrialList trials, storage_->GetTrials(record_.id));
  for (const auto& t : trials) {
    if (t->number == number) {
      Trial trial(this, *t);
      return Tell(trial, state, value, error);
    }
  }
  return absl::NotFoundError(
      absl::StrCat("study '", record_.name, "' has no trial number ", number));
}

Status Study::TellValues(int64_t number, TrialState state, const std::vector<double>& values,
                         const std::string& error) {
  MLCORE_ASSIGN_OR_RETURN(TrialList trials, storage_->GetTrials(record_.id));
  for (const auto& t : trials) {
    if (t->number == number) {
      Trial trial(this, *t);
      return TellValues(trial, state, values, error);
    }
  }
  return absl::NotFoundError(
      absl::StrCat("study '", record_.name, "' has no trial number ", number));
}

Status Study::Enqueue(const std::map<std::string, ParamValue>& params) {
  FrozenTrial t;
  t.state = TrialState::kWaiting;
  t.params = params;
  return storage_->CreateTrial(record_.id, t).status();
}

StatusOr<FrozenTrial> Study::AddTrial(const FrozenTrial& trial) {
  if (!IsFinished(trial.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("an added trial must be complete, pruned or "
                     "failed, not ",
                     TrialStateName(trial.state)));
  }
  FrozenTrial t = trial;
  if (t.values.empty() && t.has_value) t.values = {t.value};
  if (!t.values.empty()) {
    t.has_value = true;
    t.value = t.values[0];
  }
  if (t.state == TrialState::kComplete) {
    bool finite = t.values.size() == record_.directions.size();
    for (double v : t.values) finite = finite && std::isfinite(v);
    if (!finite) {
      return absl::InvalidArgumentError(absl::StrCat("an added complete trial needs ",
                                                     record_.directions.size(),
                                                     " finite value(s), one per objective"));
    }
  }
  for (const auto& [name, value] : trial.params) {
    auto d = trial.distributions.find(name);
    if (d == trial.distributions.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("added trial: parameter '", name, "' has no distribution"));
    }
    StatusOr<double> v = d->second.ToInternal(value);
    if (!v.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("added trial: parameter '", name, "': ", v.status().message()));
    }
  }
  if (t.started == absl::InfinitePast()) t.started = absl::Now();
  if (t.finished == absl::InfinitePast()) t.finished = t.started;
  return storage_->CreateTrial(record_.id, t);
}

StatusOr<TrialList> Study::Trials() { return storage_->GetTrials(record_.id); }

StatusOr<FrozenTrial> Study::BestTrial() {
  if (multi_objective()) {
    return absl::FailedPreconditionError(
        absl::StrCat("study '", record_.name, "' has ", record_.directions.size(),
                     " objectives and no single best trial; use BestTrials (the Pareto front)"));
  }
  MLCORE_ASSIGN_OR_RETURN(TrialList trials, storage_->GetTrials(record_.id));
  const FrozenTrial* best = nullptr;
  for (const auto& t : trials) {
    if (t->state != TrialState::kComplete || !t->has_value) continue;
    if (best == nullptr || IsBetter(record_.direction, t->value, best->value)) best = t.get();
  }
  if (best == nullptr) {
    return absl::NotFoundError(absl::StrCat("study '", record_.name, "' has no complete trial"));
  }
  return *best;
}

StatusOr<TrialList> Study::BestTrials() {
  MLCORE_ASSIGN_OR_RETURN(TrialList trials, storage_->GetTrials(record_.id));
  TrialList complete;
  std::vector<std::vector<double>> points;
  for (const auto& t : trials) {
    if (t->state != TrialState::kComplete || t->values.size() != record_.directions.size()) {
      continue;
    }
    complete.push_back(t);
    points.push_back(t->values);
  }
  TrialList front;
  if (complete.empty()) return front;
  std::vector<std::vector<int>> fronts = NonDominatedSort(points, record_.directions);
  for (int i : fronts[0]) front.push_back(complete[i]);
  return front;
}

}  // namespace mlcore::hpo

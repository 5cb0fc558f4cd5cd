// Studies in this process's memory: the fastest storage, for notebooks and benchmarks. Trials are
// immutable snapshots replaced on change (copy on write), so GetTrials hands out pointers
// without copying trials and readers never see a half-updated one.
#include <cmath>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mlcore/hpo/storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

class InMemoryStorage : public Storage {
 public:
  StatusOr<StudyRecord> CreateStudy(const std::string& name,
                                    const std::vector<StudyDirection>& directions) override {
    if (directions.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("study '", name, "' needs a direction"));
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (by_name_.count(name) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("study '", name, "' already exists"));
    }
    StudyRecord r{next_study_id_++, name, directions[0], absl::Now(), directions};
    by_name_[name] = r.id;
    studies_[r.id] = StudyData{r, {}, {}};
    return r;
  }

  StatusOr<StudyRecord> LoadStudy(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end())
      return absl::NotFoundError(absl::StrCat("no study named '", name, "'"));
    return studies_[it->second].record;
  }

  StatusOr<std::vector<StudyRecord>> ListStudies() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<StudyRecord> out;
    for (const auto& [id, s] : studies_) out.push_back(s.record);
    return out;
  }

  Status DeleteStudy(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end())
      return absl::NotFoundError(absl::StrCat("no study named '", name, "'"));
    for (const auto& t : studies_[it->second].trials) trial_index_.erase(t->id);
    studies_.erase(it->second);
    by_name_.erase(it);
    return absl::OkStatus();
  }

  StatusOr<FrozenTrial> CreateTrial(int64_t study_id, const FrozenTrial& trial) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(StudyData * s, Find(study_id));
    auto t = std::make_shared<FrozenTrial>(trial);
    t->id = next_trial_id_++;
    t->number = static_cast<int64_t>(s->trials.size());
    if (t->state == TrialState::kRunning && t->started == absl::InfinitePast()) {
      t->started = absl::Now();
    }
    if (t->values.empty() && t->has_value && std::isfinite(t->value)) t->values = {t->value};
    s->trials.push_back(t);
    trial_index_[t->id] = {study_id, t->number};
    return *t;
  }

  StatusOr<std::optional<FrozenTrial>> PopWaitingTrial(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(StudyData * s, Find(study_id));
    for (auto& t : s->trials) {
      if (t->state != TrialState::kWaiting) continue;
      auto copy = std::make_shared<FrozenTrial>(*t);
      copy->state = TrialState::kRunning;
      copy->started = absl::Now();
      t = copy;
      return std::optional<FrozenTrial>(*copy);
    }
    return std::optional<FrozenTrial>();
  }

  Status SetParam(int64_t trial_id, const std::string& name, const Distribution& distribution,
                  double internal_value) override {
    return Update(trial_id, [&](FrozenTrial& t) -> Status {
      t.params[name] = distribution.ToExternal(internal_value);
      t.distributions.insert_or_assign(name, distribution);
      return absl::OkStatus();
    });
  }

  Status ReportIntermediate(int64_t trial_id, int64_t step, double value) override {
    return Update(trial_id, [&](FrozenTrial& t) -> Status {
      t.intermediate_values.emplace(step, value);
      return absl::OkStatus();
    });
  }

  Status FinishTrial(int64_t trial_id, TrialState state, const std::vector<double>& values,
                     const std::string& error,
                     const std::vector<std::pair<int64_t, double>>& reports) override {
    return Update(trial_id, [&](FrozenTrial& t) -> Status {
      if (t.state != TrialState::kRunning) {
        return absl::FailedPreconditionError(
            absl::StrCat("trial ", t.number, " is ", TrialStateName(t.state), ", not running"));
      }
      for (const auto& [step, v] : reports) t.intermediate_values.emplace(step, v);
      t.state = state;
      t.has_value = !values.empty();
      t.value = values.empty() ? std::nan("") : values[0];
      t.values = values;
      t.error = error;
      t.finished = absl::Now();
      return absl::OkStatus();
    });
  }

  Status SetTrialUserAttr(int64_t trial_id, const std::string& key,
                          const std::string& json_value) override {
    if (!nlohmann::json::accept(json_value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("user attr '", key, "' is not a JSON value: ", json_value));
    }
    return Update(trial_id, [&](FrozenTrial& t) -> Status {
      t.user_attrs[key] = json_value;
      return absl::OkStatus();
    });
  }

  Status SetStudySystemAttr(int64_t study_id, const std::string& key,
                            const std::string& value) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(StudyData * s, Find(study_id));
    s->system_attrs[key] = value;
    return absl::OkStatus();
  }

  StatusOr<std::map<std::string, std::string>> GetStudySystemAttrs(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(StudyData * s, Find(study_id));
    return s->system_attrs;
  }

  StatusOr<TrialList> GetTrials(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(StudyData * s, Find(study_id));
    return TrialList(s->trials.begin(), s->trials.end());
  }

  StatusOr<FrozenTrial> GetTrial(int64_t trial_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<FrozenTrial> * t, FindTrial(trial_id));
    return **t;
  }

  // In one process nothing can be orphaned by a dead process.
  StatusOr<int> RecoverStaleTrials(int64_t, bool) override { return 0; }

  std::string description() const override { return "memory"; }

 private:
  struct StudyData {
    StudyRecord record;
    std::vector<std::shared_ptr<FrozenTrial>> trials;
    std::map<std::string, std::string> system_attrs;
  };

  StatusOr<StudyData*> Find(int64_t study_id) {
    auto it = studies_.find(study_id);
    if (it == studies_.end())
      return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
    return &it->second;
  }

  StatusOr<std::shared_ptr<FrozenTrial>*> FindTrial(int64_t trial_id) {
    auto it = trial_index_.find(trial_id);
    if (it == trial_index_.end())
      return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
    return &studies_[it->second.first].trials[it->second.second];
  }

  template <typename Fn>
  Status Update(int64_t trial_id, Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<FrozenTrial> * slot, FindTrial(trial_id));
    auto copy = std::make_shared<FrozenTrial>(**slot);
    MLCORE_RETURN_IF_ERROR(fn(*copy));
    *slot = std::move(copy);
    return absl::OkStatus();
  }

  std::mutex mu_;
  int64_t next_study_id_ = 1;
  int64_t next_trial_id_ = 1;
  std::map<std::string, int64_t> by_name_;
  std::map<int64_t, StudyData> studies_;
  std::map<int64_t, std::pair<int64_t, int64_t>> trial_index_;  // id -> (study, number)
};

}  // namespace

StatusOr<FrozenTrial> Storage::StartTrial(int64_t study_id) {
  MLCORE_ASSIGN_OR_RETURN(std::optional<FrozenTrial> waiting, PopWaitingTrial(study_id));
  if (waiting.has_value()) return *std::move(waiting);
  FrozenTrial fresh;
  fresh.state = TrialState::kRunning;
  fresh.started = absl::Now();
  return CreateTrial(study_id, fresh);
}

Status Storage::ReportIntermediates(int64_t trial_id,
                                    const std::vector<std::pair<int64_t, double>>& values) {
  for (const auto& [step, value] : values) {
    MLCORE_RETURN_IF_ERROR(ReportIntermediate(trial_id, step, value));
  }
  return absl::OkStatus();
}

StatusOr<std::vector<StudySummary>> SummarizeStudies(Storage& storage) {
  MLCORE_ASSIGN_OR_RETURN(std::vector<StudyRecord> studies, storage.ListStudies());
  std::vector<StudySummary> out;
  for (StudyRecord& study : studies) {
    StudySummary s;
    MLCORE_ASSIGN_OR_RETURN(TrialList trials, storage.GetTrials(study.id));
    s.trials = static_cast<int64_t>(trials.size());
    const bool single = study.directions.size() == 1;
    for (const auto& t : trials) {
      if (t->state == TrialState::kRunning) ++s.running;
      if (t->state == TrialState::kPruned) ++s.pruned;
      if (t->state == TrialState::kFailed) ++s.failed;
      if (t->state != TrialState::kComplete) continue;
      ++s.complete;
      if (!single || !t->has_value) continue;
      if (!s.best.has_value() || IsBetter(study.direction, t->value, *s.best)) {
        s.best = t->value;
      }
    }
    s.study = std::move(study);
    out.push_back(std::move(s));
  }
  return out;
}

std::shared_ptr<Storage> NewInMemoryStorage() { return std::make_shared<InMemoryStorage>(); }

}  // namespace mlcore::hpo

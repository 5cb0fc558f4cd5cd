#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/sqlite_storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {

using Json = nlohmann::json;

StatusOr<TrialList> SqliteStorage::GetTrials(int64_t study_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Cache& cache = cache_[study_id];
  int64_t version = -1;
  if (exclusive_) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<store::Row> v, Run("PRAGMA data_version", {}));
    version = v.empty() ? -1 : AsInt(v[0][0]);
  }
  // Read again unless nothing but this storage has written since the last read: then the
  // tail, kept up to date with this storage's own writes, is what a read would return.
  if (!exclusive_ || !cache.tail_valid || version != cache.data_version) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<FrozenTrial>> fresh,
                            ReadTrials(kByStudyFrom, {study_id, cache.watermark}));
    cache.tail.assign(fresh.begin(), fresh.end());
    cache.tail_valid = true;
    cache.data_version = version;
  }
  size_t done = 0;
  while (done < cache.tail.size() && cache.tail[done]->number == cache.watermark &&
         IsFinished(cache.tail[done]->state)) {
    cache.finished.push_back(cache.tail[done]);
    ++cache.watermark;
    ++done;
  }
  cache.tail.erase(cache.tail.begin(), cache.tail.begin() + done);
  TrialList out;
  out.reserve(cache.finished.size() + cache.tail.size());
  out.assign(cache.finished.begin(), cache.finished.end());
  out.insert(out.end(), cache.tail.begin(), cache.tail.end());
  return out;
}

StatusOr<FrozenTrial> SqliteStorage::GetTrial(int64_t trial_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<FrozenTrial>> rows,
                          ReadTrials(kById, {trial_id}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
  return *rows[0];
}

void SqliteStorage::AddReports(FrozenTrial& t,
                               const std::vector<std::pair<int64_t, double>>& reports) {
  for (const auto& [step, v] : reports) t.intermediate_values.emplace(step, v);
}

void SqliteStorage::AppendToTail(int64_t study_id, const FrozenTrial& t) {
  Cache& cache = cache_[study_id];
  if (!cache.tail_valid) return;
  int64_t expected = cache.tail.empty() ? cache.watermark : cache.tail.back()->number + 1;
  if (t.number != expected) {
    cache.tail_valid = false;
    return;
  }
  auto stored = std::make_shared<FrozenTrial>(t);
  // As a read would return it: times through their stored form.
  stored->started = FromSeconds(TimeValue(t.started));
  stored->finished = FromSeconds(TimeValue(t.finished));
  cache.tail.push_back(std::move(stored));
}

StatusOr<Distribution> SqliteStorage::ParseDistribution(const std::string& json) {
  auto it = distribution_cache_.find(json);
  if (it != distribution_cache_.end()) return it->second;
  StatusOr<Distribution> d = Distribution::FromJson(json);
  if (!d.ok()) {
    return absl::DataLossError(absl::StrCat("stored distribution in ", store_->path(),
                                            " is not valid: ", d.status().message()));
  }
  distribution_cache_.emplace(json, *d);
  return *d;
}

StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> SqliteStorage::ReadTrials(
    const char* where, const std::vector<Value>& args) {
  std::vector<std::shared_ptr<FrozenTrial>> out;
  std::map<int64_t, FrozenTrial*> by_id;
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> rows,
      Run(absl::StrCat("SELECT t.trial_id, t.number, t.state, t.value, t.error, t.started_at, "
                       "t.finished_at, t.objective_values FROM hpo_trials t WHERE ",
                       where, " ORDER BY t.number"),
          args));
  for (const store::Row& r : rows) {
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<FrozenTrial> t, TrialFromRow(r, store_->path()));
    by_id[t->id] = t.get();
    out.push_back(std::move(t));
  }
  if (out.empty()) return out;
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> params,
      Run(absl::StrCat("SELECT p.trial_id, p.name, p.value, p.distribution, p.fixed "
                       "FROM hpo_trial_params p JOIN hpo_trials t "
                       "ON t.trial_id = p.trial_id WHERE ",
                       where),
          args));
  const DistributionParser parse = [this](const std::string& j) { return ParseDistribution(j); };
  for (const store::Row& r : params) {
    auto it = by_id.find(AsInt(r[0]));
    if (it != by_id.end()) MLCORE_RETURN_IF_ERROR(AddParamRow(*it->second, r, parse));
  }
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> values,
      Run(absl::StrCat("SELECT v.trial_id, v.step, v.value FROM hpo_trial_values v "
                       "JOIN hpo_trials t ON t.trial_id = v.trial_id WHERE ",
                       where),
          args));
  for (const store::Row& r : values) {
    auto it = by_id.find(AsInt(r[0]));
    if (it != by_id.end()) it->second->intermediate_values[AsInt(r[1])] = AsDouble(r[2]);
  }
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> attrs,
      Run(absl::StrCat("SELECT a.trial_id, a.key, a.value FROM hpo_trial_user_attrs a "
                       "JOIN hpo_trials t ON t.trial_id = a.trial_id WHERE ",
                       where),
          args));
  for (const store::Row& r : attrs) {
    auto it = by_id.find(AsInt(r[0]));
    if (it != by_id.end()) it->second->user_attrs[AsText(r[1])] = AsText(r[2]);
  }
  return out;
}

}  // namespace mlcore::hpo::internal

// Trial reads of the PostgreSQL storage and the per-process cache of finished trials.
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/postgres_storage.h"
#include "hpo/sqlite_storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {

using Json = nlohmann::json;

StatusOr<TrialList> PostgresStorage::GetTrials(int64_t study_id) {
  int64_t watermark = 0;
  std::optional<std::vector<std::shared_ptr<FrozenTrial>>> prefetched;
  {
    std::lock_guard lock(mu_);
    Cache& cache = cache_[study_id];
    cache.read = true;
    watermark = cache.watermark;
    if (cache.prefetched.has_value() && cache.prefetched_from == watermark &&
        cache.prefetched_by == std::this_thread::get_id() &&
        absl::Now() - cache.prefetched_at < kPrefetchLifetime) {
      prefetched.swap(cache.prefetched);
    }
    cache.prefetched.reset();
  }
  // Every read sees each committed trial: the trials from the first unfinished one on are read
  // again each time (finished ones before it never change and come from the cache). The sampler
  // of a trial just started reads what its start statement read, in the same snapshot.
  std::vector<std::shared_ptr<FrozenTrial>> tail;
  if (prefetched.has_value()) {
    tail = std::move(*prefetched);
  } else {
    MLCORE_ASSIGN_OR_RETURN(tail, ReadTrials(study_id, watermark, -1));
  }
  std::lock_guard lock(mu_);
  Cache& cache = cache_[study_id];
  size_t done = 0;
  if (cache.watermark == watermark) {
    while (done < tail.size() && tail[done]->number == cache.watermark &&
           IsFinished(tail[done]->state)) {
      cache.finished.push_back(tail[done]);
      ++cache.watermark;
      ++done;
    }
  }
  TrialList out;
  out.reserve(watermark + tail.size());
  out.assign(cache.finished.begin(), cache.finished.begin() + watermark + done);
  out.insert(out.end(), tail.begin() + done, tail.end());
  return out;
}

void PostgresStorage::DropPrefetched() {
  std::lock_guard lock(mu_);
  for (auto& [study, cache] : cache_) cache.prefetched.reset();
}

StatusOr<FrozenTrial> PostgresStorage::GetTrial(int64_t trial_id) {
  MLCORE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<FrozenTrial>> rows,
                          ReadTrials(-1, -1, trial_id));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
  return *rows[0];
}

StatusOr<Distribution> PostgresStorage::ParseDistribution(const std::string& json) {
  {
    std::lock_guard lock(mu_);
    auto it = distribution_cache_.find(json);
    if (it != distribution_cache_.end()) return it->second;
  }
  StatusOr<Distribution> d = Distribution::FromJson(json);
  if (!d.ok()) {
    return absl::DataLossError(absl::StrCat("stored distribution in ", description(),
                                            " is not valid: ", d.status().message()));
  }
  std::lock_guard lock(mu_);
  distribution_cache_.emplace(json, *d);
  return *d;
}

const std::string& PostgresStorage::DistributionJson(const Distribution& d) {
  for (const auto& [dist, json] : json_cache_) {
    if (dist == d) return json;
  }
  if (json_cache_.size() >= 64) json_cache_.erase(json_cache_.begin());
  json_cache_.emplace_back(d, d.ToJson());
  return json_cache_.back().second;
}

StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> PostgresStorage::ReadTrials(int64_t study_id,
                                                                                int64_t from,
                                                                                int64_t trial_id) {
  // The filter over hpo_trials t, with its two parameters.
  const bool by_id = trial_id >= 0;
  // A closed range, not "number >= $2": the statement runs with a generic plan (see
  // PgConnection), whose estimate for a closed range is a few rows, so it reads the tail through
  // the (study_id, number) index and the child tables' primary keys.
  const char* where = by_id ? "t.trial_id = $1" : "t.study_id = $1 AND t.number BETWEEN $2 AND $3";
  std::vector<Value> args =
      by_id ? std::vector<Value>{trial_id} : std::vector<Value>{study_id, from, INT64_MAX};
  // One statement, so one round trip and one snapshot: a trial read as finished comes with every
  // report its finishing statement wrote.
  MLCORE_ASSIGN_OR_RETURN(std::vector<Row> all,
                          store_->Query(absl::StrCat(TrialsSql(where), " ORDER BY 1, 3"), args));
  return ToTrials(all);
}

std::string TrialsSql(std::string_view where) {
  // Rows of kind 0 are trials (in number order), 1 params, 2 reports, 3 user attributes.
  std::string w(where);
  return absl::StrCat(
      "SELECT 0 AS k, t.trial_id, t.number, t.state, t.value, t.error, t.started_at, "
      "t.finished_at, t.objective_values FROM hpo_trials t WHERE ",
      w,
      " UNION ALL SELECT 1, p.trial_id, NULL::bigint, p.name, p.value, p.distribution, "
      "NULL::float8, NULL::float8, p.fixed FROM hpo_trial_params p JOIN hpo_trials t "
      "ON t.trial_id = p.trial_id WHERE ",
      w,
      " UNION ALL SELECT 2, v.trial_id, v.step, NULL::text, v.value, NULL::text, "
      "NULL::float8, NULL::float8, NULL::text FROM hpo_trial_values v JOIN hpo_trials t "
      "ON t.trial_id = v.trial_id WHERE ",
      w,
      " UNION ALL SELECT 3, a.trial_id, NULL::bigint, a.key, NULL::float8, a.value, "
      "NULL::float8, NULL::float8, NULL::text FROM hpo_trial_user_attrs a JOIN "
      "hpo_trials t ON t.trial_id = a.trial_id WHERE ",
      w);
}

StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> PostgresStorage::ToTrials(
    std::vector<Row>& all) {
  std::vector<std::shared_ptr<FrozenTrial>> out;
  std::map<int64_t, FrozenTrial*> index;
  std::vector<Row> rows, params, values, attrs;
  for (Row& r : all) {
    const int64_t kind = AsInt(r[0]);
    r.erase(r.begin());
    if (kind == 0) {
      rows.push_back(std::move(r));
    } else if (kind == 1) {  // trial_id, -, name, value, distribution, -, -, fixed
      params.push_back({r[0], r[2], r[3], r[4], r[7]});
    } else if (kind == 2) {  // trial_id, step, -, value
      values.push_back({r[0], r[1], r[3]});
    } else {  // trial_id, -, key, -, value
      attrs.push_back({r[0], r[2], r[4]});
    }
  }
  for (const Row& r : rows) {
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<FrozenTrial> t, TrialFromRow(r, description()));
    index[t->id] = t.get();
    out.push_back(std::move(t));
  }
  const DistributionParser parse = [this](const std::string& j) { return ParseDistribution(j); };
  for (const Row& r : params) {
    auto it = index.find(AsInt(r[0]));
    if (it != index.end()) MLCORE_RETURN_IF_ERROR(AddParamRow(*it->second, r, parse));
  }
  for (const Row& r : values) {
    auto it = index.find(AsInt(r[0]));
    if (it != index.end()) it->second->intermediate_values[AsInt(r[1])] = AsDouble(r[2]);
  }
  for (const Row& r : attrs) {
    auto it = index.find(AsInt(r[0]));
    if (it != index.end()) it->second->user_attrs[AsText(r[1])] = AsText(r[2]);
  }
  return out;
}

}  // namespace mlcore::hpo::internal

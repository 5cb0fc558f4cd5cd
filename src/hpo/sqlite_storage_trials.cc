#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/sqlite_storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {

using Json = nlohmann::json;

StatusOr<FrozenTrial> SqliteStorage::CreateTrial(int64_t study_id, const FrozenTrial& trial) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  FrozenTrial t = trial;
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status { return InsertTrial(study_id, t); }));
  AppendToTail(study_id, t);
  return t;
}

StatusOr<std::optional<FrozenTrial>> SqliteStorage::PopWaitingTrial(int64_t study_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  int64_t trial_id = -1;
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(trial_id, TakeWaiting(study_id));
    return absl::OkStatus();
  }));
  if (trial_id < 0) return std::optional<FrozenTrial>();
  cache_[study_id].tail_valid = false;
  MLCORE_ASSIGN_OR_RETURN(FrozenTrial t, GetTrial(trial_id));
  return std::optional<FrozenTrial>(std::move(t));
}

Status SqliteStorage::SetParam(int64_t trial_id, const std::string& name,
                               const Distribution& distribution, double internal_value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  // One statement is its own transaction: no BEGIN/COMMIT round trip of its own.
  MLCORE_RETURN_IF_ERROR(InsertParam(trial_id, name, distribution, internal_value));
  UpdateTail(trial_id, [&](FrozenTrial& t) {
    t.params[name] = distribution.ToExternal(internal_value);
    t.distributions.insert_or_assign(name, distribution);
  });
  return absl::OkStatus();
}

Status SqliteStorage::ReportIntermediate(int64_t trial_id, int64_t step, double value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  MLCORE_RETURN_IF_ERROR(InsertReports(trial_id, {{step, value}}));
  UpdateTail(trial_id, [&](FrozenTrial& t) { AddReports(t, {{step, value}}); });
  return absl::OkStatus();
}

Status SqliteStorage::ReportIntermediates(int64_t trial_id,
                                          const std::vector<std::pair<int64_t, double>>& values) {
  if (values.empty()) return absl::OkStatus();
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (values.size() <= kReportsPerInsert) {  // one statement: its own transaction
    MLCORE_RETURN_IF_ERROR(InsertReports(trial_id, values));
  } else {
    MLCORE_RETURN_IF_ERROR(
        store_->Transaction([&]() -> Status { return InsertReports(trial_id, values); }));
  }
  UpdateTail(trial_id, [&](FrozenTrial& t) { AddReports(t, values); });
  return absl::OkStatus();
}

StatusOr<FrozenTrial> SqliteStorage::StartTrial(int64_t study_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  int64_t waiting_id = -1;
  FrozenTrial fresh;
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(waiting_id, TakeWaiting(study_id));
    if (waiting_id >= 0) return absl::OkStatus();
    fresh = FrozenTrial();
    fresh.state = TrialState::kRunning;
    return InsertTrial(study_id, fresh);
  }));
  if (waiting_id >= 0) {
    cache_[study_id].tail_valid = false;
    return GetTrial(waiting_id);
  }
  AppendToTail(study_id, fresh);
  return fresh;
}

Status SqliteStorage::FinishTrial(int64_t trial_id, TrialState state,
                                  const std::vector<double>& values, const std::string& error,
                                  const std::vector<std::pair<int64_t, double>>& reports) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  const double finished = Seconds(absl::Now());
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(InsertReports(trial_id, reports));
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run("UPDATE hpo_trials SET state = ?2, value = ?3, error = ?4, finished_at = ?5, "
            "owner = NULL, objective_values = ?6 WHERE trial_id = ?1 AND state = 'running' "
            "RETURNING number",
            {trial_id, std::string(TrialStateName(state)),
             values.empty() ? Value() : Value(values[0]), error, finished,
             values.size() > 1 ? Value(ValuesToJson(values)) : Value()}));
    if (!rows.empty()) return absl::OkStatus();
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> now,
        Run("SELECT number, state, error FROM hpo_trials WHERE trial_id = ?1", {trial_id}));
    if (now.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", AsInt(now[0][0]), " is ", AsText(now[0][1]),
                     ", not running; its result was not recorded (", AsText(now[0][2]), ")"));
  }));
  UpdateTail(trial_id, [&](FrozenTrial& t) {
    AddReports(t, reports);
    t.state = state;
    t.has_value = !values.empty();
    t.value = values.empty() ? std::nan("") : values[0];
    t.values = values;
    t.error = error;
    t.finished = FromSeconds(finished);
  });
  return absl::OkStatus();
}

Status SqliteStorage::SetTrialUserAttr(int64_t trial_id, const std::string& key,
                                       const std::string& json_value) {
  if (!Json::accept(json_value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("user attr '", key, "' is not a JSON value: ", json_value));
  }
  std::lock_guard<std::recursive_mutex> lock(mu_);
  MLCORE_RETURN_IF_ERROR(Run("INSERT INTO hpo_trial_user_attrs(trial_id, key, value) "
                             "VALUES (?1, ?2, ?3) ON CONFLICT(trial_id, key) DO UPDATE SET "
                             "value = excluded.value",
                             {trial_id, key, json_value})
                             .status());
  // A finished trial below the watermark is cached for good: read it again next time.
  for (auto& [study, cache] : cache_) SetCachedUserAttr(cache.finished, trial_id, key, json_value);
  UpdateTail(trial_id, [&](FrozenTrial& t) { t.user_attrs[key] = json_value; });
  return absl::OkStatus();
}

StatusOr<int> SqliteStorage::RecoverStaleTrials(int64_t study_id, bool requeue) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  int recovered = 0;
  cache_[study_id].tail_valid = false;
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
    recovered = 0;
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run("SELECT trial_id, owner FROM hpo_trials WHERE study_id = ?1 AND state = 'running'",
            {study_id}));
    for (const store::Row& r : rows) {
      std::string owner = AsText(r[1]);
      if (internal::OwnerAlive(owner)) continue;
      ++recovered;
      if (requeue) {
        MLCORE_RETURN_IF_ERROR(
            Run("DELETE FROM hpo_trial_values WHERE trial_id = ?1", {r[0]}).status());
        MLCORE_RETURN_IF_ERROR(Run("UPDATE hpo_trials SET state = 'waiting', owner = NULL, "
                                   "started_at = NULL WHERE trial_id = ?1",
                                   {r[0]})
                                   .status());
      } else {
        MLCORE_RETURN_IF_ERROR(
            Run("UPDATE hpo_trials SET state = 'failed', owner = NULL, error = ?2, "
                "finished_at = ?3 WHERE trial_id = ?1",
                {r[0],
                 absl::StrCat("its process (", owner.empty() ? "unknown" : owner,
                              ") ended while it was running"),
                 Seconds(absl::Now())})
                .status());
      }
    }
    return absl::OkStatus();
  }));
  return recovered;
}

StatusOr<int64_t> SqliteStorage::TakeWaiting(int64_t study_id) {
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> rows,
      Run("UPDATE hpo_trials SET state = 'running', owner = ?2, started_at = ?3 "
          "WHERE trial_id = (SELECT trial_id FROM hpo_trials WHERE study_id = ?1 AND "
          "state = 'waiting' ORDER BY number LIMIT 1) RETURNING trial_id",
          {study_id, owner_, Seconds(absl::Now())}));
  return rows.empty() ? -1 : AsInt(rows[0][0]);
}

Status SqliteStorage::InsertTrial(int64_t study_id, FrozenTrial& t) {
  std::vector<Value> values = NewTrialValues(t, owner_);
  values.insert(values.begin(), study_id);
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> id,
      Run("INSERT INTO hpo_trials(study_id, number, state, value, error, owner, started_at, "
          "finished_at, objective_values) VALUES (?1, (SELECT COALESCE(MAX(number) + 1, 0) "
          "FROM hpo_trials WHERE study_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
          "RETURNING trial_id, number",
          values));
  t.id = AsInt(id[0][0]);
  t.number = AsInt(id[0][1]);
  MLCORE_RETURN_IF_ERROR(InsertTrialParams(
      t,
      [&](const std::string& name, const std::string& fixed) {
        return Run("INSERT INTO hpo_trial_params(trial_id, name, fixed) VALUES (?1, ?2, ?3)",
                   {t.id, name, fixed})
            .status();
      },
      [&](const std::string& name, const Distribution& d, double internal) {
        return InsertParam(t.id, name, d, internal);
      }));
  std::vector<std::pair<int64_t, double>> reports(t.intermediate_values.begin(),
                                                  t.intermediate_values.end());
  return InsertReports(t.id, reports);
}

Status SqliteStorage::InsertReports(int64_t trial_id,
                                    const std::vector<std::pair<int64_t, double>>& values) {
  for (size_t at = 0; at < values.size(); at += kReportsPerInsert) {
    const size_t n = std::min(kReportsPerInsert, values.size() - at);
    std::vector<Value> params;
    params.reserve(1 + 2 * n);
    params.emplace_back(trial_id);
    for (size_t i = at; i < at + n; ++i) {
      const auto& [step, value] = values[i];
      params.emplace_back(step);
      if (std::isnan(value)) {
        params.emplace_back(std::monostate());
      } else {
        params.emplace_back(value);
      }
    }
    MLCORE_RETURN_IF_ERROR(Run(ReportsSql(n), params).status());
  }
  return absl::OkStatus();
}

const std::string& SqliteStorage::ReportsSql(size_t rows) {
  if (reports_sql_.size() <= rows) reports_sql_.resize(rows + 1);
  std::string& sql = reports_sql_[rows];
  if (sql.empty()) {
    sql = "INSERT OR IGNORE INTO hpo_trial_values(trial_id, step, value) VALUES ";
    for (size_t i = 0; i < rows; ++i) {
      absl::StrAppend(&sql, i == 0 ? "" : ", ", "(?1, ?", 2 + 2 * i, ", ?", 3 + 2 * i, ")");
    }
  }
  return sql;
}

Status SqliteStorage::InsertParam(int64_t trial_id, const std::string& name, const Distribution& d,
                                  double internal) {
  return Run("INSERT INTO hpo_trial_params(trial_id, name, value, distribution) "
             "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(trial_id, name) DO UPDATE SET "
             "value = excluded.value, distribution = excluded.distribution, fixed = NULL",
             {trial_id, name, internal, DistributionJson(d)})
      .status();
}

const std::string& SqliteStorage::DistributionJson(const Distribution& d) {
  for (const auto& [dist, json] : json_cache_) {
    if (dist == d) return json;
  }
  if (json_cache_.size() >= 64) json_cache_.erase(json_cache_.begin());
  json_cache_.emplace_back(d, d.ToJson());
  return json_cache_.back().second;
}

}  // namespace mlcore::hpo::internal

// Trial writes of the PostgreSQL storage, and the recovery of stale trials.
#include <cmath>
#include <cstdint>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/postgres_storage.h"
#include "hpo/process_identity.h"
#include "hpo/sqlite_storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {

namespace {

// Takes the study's oldest waiting trial (SKIP LOCKED: two workers never wait for, or get, the
// same one) or, when none waits, numbers a new running trial from the study's counter row. The
// counter is updated in the same statement as the insert, so a number is used exactly when its
// trial exists: contiguous and unique with any number of writers.
constexpr char kStartCtes[] =
    "WITH w AS ("
    "  UPDATE hpo_trials SET state = 'running', owner = $2, started_at = $3, heartbeat_at = now()"
    "  WHERE state = 'waiting' AND trial_id = (SELECT trial_id FROM hpo_trials"
    "    WHERE study_id = $1 AND state = 'waiting' ORDER BY number LIMIT 1"
    "    FOR UPDATE SKIP LOCKED)"
    "  RETURNING trial_id, number),"
    " n AS ("
    "  UPDATE hpo_studies SET next_number = next_number + 1"
    "  WHERE study_id = $1 AND NOT EXISTS (SELECT 1 FROM w)"
    "  RETURNING next_number - 1 AS number),"
    " i AS ("
    "  INSERT INTO hpo_trials(study_id, number, state, owner, started_at, heartbeat_at)"
    "  SELECT $1, number, 'running', $2, $3, now() FROM n"
    "  RETURNING trial_id, number)";

// The started trial as a row of kind -1 (trial_id, number, 1.0 when it was waiting), in the
// shape of TrialsSql's rows.
constexpr char kStarted[] =
    " SELECT -1 AS k, trial_id, number, NULL::text, 1::float8, NULL::text, NULL::float8,"
    " NULL::float8, NULL::text FROM w UNION ALL SELECT -1, trial_id, number, NULL::text,"
    " 0::float8, NULL::text, NULL::float8, NULL::float8, NULL::text FROM i";

constexpr char kReports[] =
    "INSERT INTO hpo_trial_values(trial_id, step, value) "
    "SELECT $1, s, v FROM unnest($2::bigint[], $3::float8[]) AS x(s, v) "
    "ON CONFLICT (trial_id, step) DO NOTHING";

std::pair<std::string, std::string> ReportArrays(
    const std::vector<std::pair<int64_t, double>>& reports) {
  std::vector<int64_t> steps;
  std::vector<double> values;
  for (const auto& [step, v] : reports) {
    steps.push_back(step);
    values.push_back(v);
  }
  return {IntArray(steps), DoubleArray(values)};
}

void AddReports(FrozenTrial& t, const std::vector<std::pair<int64_t, double>>& reports) {
  for (const auto& [step, v] : reports) t.intermediate_values.emplace(step, v);
}

}  // namespace

StatusOr<FrozenTrial> PostgresStorage::StartTrial(int64_t study_id) {
  FailExpiredTrials(study_id);
  const double started = Seconds(absl::Now());
  int64_t watermark = -1;
  {
    std::lock_guard lock(mu_);
    Cache& cache = cache_[study_id];
    if (cache.read) watermark = cache.watermark;
  }
  // A study whose sampler reads its trials gets them in the same round trip: the start and the
  // trials from the first unfinished one on, in one statement (one snapshot, taken as the trial
  // starts).
  std::vector<Row> rows;
  if (watermark >= 0) {
    static const std::string* const kWithTail = new std::string(absl::StrCat(
        kStartCtes, kStarted, " UNION ALL ",
        TrialsSql("t.study_id = $1 AND t.number BETWEEN $4 AND $5"), " ORDER BY 1, 3"));
    MLCORE_ASSIGN_OR_RETURN(
        rows, store_->Query(*kWithTail, {study_id, owner_, started, watermark, INT64_MAX}));
  } else {
    static const std::string* const kAlone = new std::string(absl::StrCat(kStartCtes, kStarted));
    MLCORE_ASSIGN_OR_RETURN(rows, store_->Query(*kAlone, {study_id, owner_, started}));
  }
  if (rows.empty() || AsInt(rows[0][0]) != -1) {
    return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
  }
  const int64_t trial_id = AsInt(rows[0][1]);
  const bool was_waiting = AsDouble(rows[0][4]) == 1.0;
  Running(trial_id, true);
  FrozenTrial t;
  t.id = trial_id;
  t.number = AsInt(rows[0][2]);
  t.state = TrialState::kRunning;
  t.started = FromSeconds(started);
  if (watermark >= 0 && !was_waiting) {
    rows.erase(rows.begin());
    MLCORE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<FrozenTrial>> tail, ToTrials(rows));
    tail.push_back(std::make_shared<FrozenTrial>(t));  // inserted after the snapshot
    std::lock_guard lock(mu_);
    Cache& cache = cache_[study_id];
    cache.prefetched = std::move(tail);
    cache.prefetched_from = watermark;
    cache.prefetched_by = std::this_thread::get_id();
    cache.prefetched_at = absl::Now();
  }
  if (was_waiting) return GetTrial(trial_id);  // its enqueued params
  return t;
}

StatusOr<std::optional<FrozenTrial>> PostgresStorage::PopWaitingTrial(int64_t study_id) {
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      store_->Query("UPDATE hpo_trials SET state = 'running', owner = $2, started_at = $3, "
                    "heartbeat_at = now() WHERE state = 'waiting' AND trial_id = "
                    "(SELECT trial_id FROM hpo_trials WHERE study_id = $1 AND state = 'waiting' "
                    "ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING trial_id",
                    {study_id, owner_, Seconds(absl::Now())}));
  if (rows.empty()) return std::optional<FrozenTrial>();
  Running(AsInt(rows[0][0]), true);
  MLCORE_ASSIGN_OR_RETURN(FrozenTrial t, GetTrial(AsInt(rows[0][0])));
  return std::optional<FrozenTrial>(std::move(t));
}

StatusOr<FrozenTrial> PostgresStorage::CreateTrial(int64_t study_id, const FrozenTrial& trial) {
  DropPrefetched();
  FrozenTrial t;
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&](store::PostgresSession& s) -> Status {
    t = trial;  // a rerun of the transaction starts from the caller's trial again
    return InsertTrial(s, study_id, t);
  }));
  if (t.state == TrialState::kRunning) Running(t.id, true);
  t.started = FromSeconds(TimeValue(t.started));
  t.finished = FromSeconds(TimeValue(t.finished));
  return t;
}

Status PostgresStorage::InsertTrial(store::PostgresSession& s, int64_t study_id, FrozenTrial& t) {
  std::vector<Value> row = NewTrialValues(t, owner_);
  row.insert(row.begin(), study_id);
  row.push_back(int64_t{t.state == TrialState::kRunning ? 1 : 0});  // heartbeat_at now()
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> id,
      s.Query("WITH n AS (UPDATE hpo_studies SET next_number = next_number + 1 "
              "WHERE study_id = $1 RETURNING next_number - 1 AS number) "
              "INSERT INTO hpo_trials(study_id, number, state, value, error, owner, started_at, "
              "finished_at, objective_values, heartbeat_at) SELECT $1, number, $2, $3, $4, $5, "
              "$6, $7, $8, CASE WHEN $9::bigint = 1 THEN now() END FROM n "
              "RETURNING trial_id, number",
              row));
  if (id.empty()) return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
  t.id = AsInt(id[0][0]);
  t.number = AsInt(id[0][1]);
  MLCORE_RETURN_IF_ERROR(InsertTrialParams(
      t,
      [&](const std::string& name, const std::string& fixed) {
        return s
            .Query("INSERT INTO hpo_trial_params(trial_id, name, fixed) VALUES ($1, $2, $3)",
                   {t.id, name, fixed})
            .status();
      },
      [&](const std::string& name, const Distribution& d, double internal) {
        return s
            .Query(
                "INSERT INTO hpo_trial_params(trial_id, name, value, distribution) "
                "VALUES ($1, $2, $3, $4)",
                {t.id, name, internal, DistributionJson(d)})
            .status();
      }));
  if (t.intermediate_values.empty()) return absl::OkStatus();
  std::vector<std::pair<int64_t, double>> reports(t.intermediate_values.begin(),
                                                  t.intermediate_values.end());
  auto [steps, values] = ReportArrays(reports);
  return s.Query(kReports, {t.id, steps, values}).status();
}

Status PostgresStorage::SetParam(int64_t trial_id, const std::string& name,
                                 const Distribution& distribution, double internal_value) {
  DropPrefetched();
  std::string json;
  {
    std::lock_guard lock(mu_);
    json = DistributionJson(distribution);
  }
  return store_
      ->Query(
          "INSERT INTO hpo_trial_params(trial_id, name, value, distribution) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT (trial_id, name) DO UPDATE SET "
          "value = excluded.value, distribution = excluded.distribution, fixed = NULL",
          {trial_id, name, internal_value, json})
      .status();
}

Status PostgresStorage::ReportIntermediate(int64_t trial_id, int64_t step, double value) {
  return ReportIntermediates(trial_id, {{step, value}});
}

Status PostgresStorage::ReportIntermediates(int64_t trial_id,
                                            const std::vector<std::pair<int64_t, double>>& values) {
  DropPrefetched();
  if (values.empty()) return absl::OkStatus();
  auto [steps, vs] = ReportArrays(values);
  return store_->Query(kReports, {trial_id, steps, vs}).status();
}

Status PostgresStorage::FinishTrial(int64_t trial_id, TrialState state,
                                    const std::vector<double>& values, const std::string& error,
                                    const std::vector<std::pair<int64_t, double>>& reports) {
  DropPrefetched();
  const double finished = Seconds(absl::Now());
  auto [steps, vs] = ReportArrays(reports);
  // One statement: the reports are written only when the trial was running, and a rerun after a
  // lost connection whose first run did commit (same finished_at) reads as done, not as a
  // conflict.
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      store_->Query(
          "WITH u AS (UPDATE hpo_trials SET state = $2, value = $3, error = $4, "
          "finished_at = $5, owner = NULL, objective_values = $6, heartbeat_at = NULL "
          "WHERE trial_id = $1 AND (state = 'running' OR (state = $2 AND finished_at = $5)) "
          "RETURNING trial_id, number), "
          "r AS (INSERT INTO hpo_trial_values(trial_id, step, value) SELECT u.trial_id, x.s, x.v "
          "FROM u, unnest($7::bigint[], $8::float8[]) AS x(s, v) "
          "ON CONFLICT (trial_id, step) DO NOTHING) "
          "SELECT number FROM u",
          {trial_id, std::string(TrialStateName(state)),
           values.empty() ? Value() : Number(values[0]), error, finished,
           values.size() > 1 ? Value(ValuesToJson(values)) : Value(), steps, vs}));
  Running(trial_id, false);
  if (!rows.empty()) return absl::OkStatus();
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> now,
      store_->Query("SELECT number, state, error FROM hpo_trials WHERE trial_id = $1", {trial_id}));
  if (now.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
  return absl::FailedPreconditionError(
      absl::StrCat("trial ", AsInt(now[0][0]), " is ", AsText(now[0][1]),
                   ", not running; its result was not recorded (", AsText(now[0][2]), ")"));
}

Status PostgresStorage::SetTrialUserAttr(int64_t trial_id, const std::string& key,
                                         const std::string& json_value) {
  DropPrefetched();
  if (!nlohmann::json::accept(json_value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("user attr '", key, "' is not a JSON value: ", json_value));
  }
  MLCORE_RETURN_IF_ERROR(
      store_
          ->Query("INSERT INTO hpo_trial_user_attrs(trial_id, key, value) VALUES ($1, $2, $3) "
                  "ON CONFLICT (trial_id, key) DO UPDATE SET value = excluded.value",
                  {trial_id, key, json_value})
          .status());
  // A finished trial below the watermark is cached for good: update the cached copy.
  std::lock_guard lock(mu_);
  for (auto& [study, cache] : cache_) SetCachedUserAttr(cache.finished, trial_id, key, json_value);
  return absl::OkStatus();
}

void PostgresStorage::FailExpiredTrials(int64_t study_id) {
  if (heartbeat_interval_ <= absl::ZeroDuration()) return;
  {
    std::lock_guard lock(mu_);
    absl::Time& last = last_expiry_check_[study_id];
    if (absl::Now() - last < heartbeat_interval_) return;
    last = absl::Now();
  }
  // Best effort: a failure here leaves the stale trials for the next check.
  (void)store_->Query(
      "UPDATE hpo_trials SET state = 'failed', finished_at = $3, error = 'its process (' || "
      "COALESCE(owner, 'unknown') || ') stopped sending heartbeats while it was running', "
      "owner = NULL, heartbeat_at = NULL WHERE study_id = $1 AND state = 'running' AND "
      "heartbeat_at < now() - make_interval(secs => $2)",
      {study_id, absl::ToDoubleSeconds(grace_period_), Seconds(absl::Now())});
}

StatusOr<int> PostgresStorage::RecoverStaleTrials(int64_t study_id, bool requeue) {
  std::set<int64_t> mine;
  {
    std::lock_guard lock(heartbeat_mu_);
    mine = running_;
  }
  const bool heartbeats = heartbeat_interval_ > absl::ZeroDuration();
  int recovered = 0;
  MLCORE_RETURN_IF_ERROR(store_->Transaction([&](store::PostgresSession& s) -> Status {
    recovered = 0;
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<Row> rows,
        s.Query(
            "SELECT trial_id, owner, CASE WHEN heartbeat_at IS NULL OR heartbeat_at < now() - "
            "make_interval(secs => $2) THEN 1 ELSE 0 END FROM hpo_trials WHERE study_id = $1 AND "
            "state = 'running' FOR UPDATE SKIP LOCKED",
            {study_id, absl::ToDoubleSeconds(grace_period_)}));
    for (const Row& r : rows) {
      const int64_t id = AsInt(r[0]);
      const std::string owner = AsText(r[1]);
      if (mine.count(id) > 0) continue;
      const bool gone = !OwnerAlive(owner);
      const bool expired = heartbeats && AsInt(r[2]) == 1;
      if (!gone && !expired) continue;
      ++recovered;
      if (requeue) {
        MLCORE_RETURN_IF_ERROR(
            s.Query("DELETE FROM hpo_trial_values WHERE trial_id = $1", {id}).status());
        MLCORE_RETURN_IF_ERROR(s.Query("UPDATE hpo_trials SET state = 'waiting', owner = NULL, "
                                       "started_at = NULL, heartbeat_at = NULL "
                                       "WHERE trial_id = $1",
                                       {id})
                                   .status());
        continue;
      }
      std::string who = owner.empty() ? "unknown" : owner;
      MLCORE_RETURN_IF_ERROR(
          s.Query("UPDATE hpo_trials SET state = 'failed', owner = NULL, heartbeat_at = NULL, "
                  "error = $2, finished_at = $3 WHERE trial_id = $1",
                  {id,
                   gone ? absl::StrCat("its process (", who, ") ended while it was running")
                        : absl::StrCat("its process (", who,
                                       ") stopped sending heartbeats while it was running"),
                   Seconds(absl::Now())})
              .status());
    }
    return absl::OkStatus();
  }));
  return recovered;
}

}  // namespace mlcore::hpo::internal

// Studies in the SQLite metadata store (tables hpo_*, created by the "hpo" migrations). Every
// write is one statement or one BEGIN IMMEDIATE transaction, so several processes share a study
// safely: trial numbers come from MAX(number) + 1 inside the write lock and a UNIQUE constraint
// backs it up. Finished trials never change, so each process caches them and reads only the
// trials from the first unfinished one on. A trial costs three commits: its start, its
// parameters (one autocommit statement each) and its end with every buffered report; all
// statements are prepared once per storage.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/process_identity.h"
#include "mlcore/hpo/storage.h"
#include "mlcore/store/metadata_store.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

using store::MetadataStore;
using store::Value;
using Json = nlohmann::json;

const std::vector<store::Migration>& HpoMigrations() {
  static const auto* migrations = new std::vector<store::Migration>{
      {1, "create_studies_and_trials",
       "CREATE TABLE hpo_studies ("
       "  study_id INTEGER PRIMARY KEY,"
       "  name TEXT NOT NULL UNIQUE,"
       "  direction TEXT NOT NULL CHECK (direction IN ('minimize', 'maximize')),"
       "  created_at REAL NOT NULL);"
       "CREATE TABLE hpo_trials ("
       "  trial_id INTEGER PRIMARY KEY,"
       "  study_id INTEGER NOT NULL REFERENCES hpo_studies(study_id) ON DELETE CASCADE,"
       "  number INTEGER NOT NULL,"
       "  state TEXT NOT NULL"
       "    CHECK (state IN ('running', 'complete', 'pruned', 'failed', 'waiting')),"
       "  value REAL,"
       "  error TEXT NOT NULL DEFAULT '',"
       "  owner TEXT,"
       "  started_at REAL,"
       "  finished_at REAL,"
       "  UNIQUE (study_id, number));"
       "CREATE INDEX hpo_trials_by_state ON hpo_trials(study_id, state, number);"
       "CREATE TABLE hpo_trial_params ("
       "  trial_id INTEGER NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  name TEXT NOT NULL,"
       "  value REAL,"         // internal value; NULL for an enqueued (fixed) value
       "  distribution TEXT,"  // Distribution::ToJson; NULL for an enqueued value
       "  fixed TEXT,"         // the enqueued value as JSON
       "  PRIMARY KEY (trial_id, name));"
       "CREATE TABLE hpo_trial_values ("
       "  trial_id INTEGER NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  step INTEGER NOT NULL,"
       "  value REAL,"
       "  PRIMARY KEY (trial_id, step));"},
      // Multi-objective studies (a JSON list of directions per study, of values per trial) and a
      // leaner write path: params and reports become WITHOUT ROWID tables (one b-tree each
      // instead of a table and its primary-key index), and the state index, rewritten at every
      // finished trial, gives way to a partial index of the waiting trials only.
      {2, "multi_objective_and_lean_tables",
       "ALTER TABLE hpo_studies ADD COLUMN directions TEXT;"
       "ALTER TABLE hpo_trials ADD COLUMN objective_values TEXT;"
       "DROP INDEX hpo_trials_by_state;"
       "CREATE INDEX hpo_trials_waiting ON hpo_trials(study_id, number) "
       "  WHERE state = 'waiting';"
       "CREATE TABLE hpo_trial_params_v2 ("
       "  trial_id INTEGER NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  name TEXT NOT NULL,"
       "  value REAL,"
       "  distribution TEXT,"
       "  fixed TEXT,"
       "  PRIMARY KEY (trial_id, name)) WITHOUT ROWID;"
       "INSERT INTO hpo_trial_params_v2 SELECT trial_id, name, value, distribution, fixed "
       "  FROM hpo_trial_params;"
       "DROP TABLE hpo_trial_params;"
       "ALTER TABLE hpo_trial_params_v2 RENAME TO hpo_trial_params;"
       "CREATE TABLE hpo_trial_values_v2 ("
       "  trial_id INTEGER NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  step INTEGER NOT NULL,"
       "  value REAL,"
       "  PRIMARY KEY (trial_id, step)) WITHOUT ROWID;"
       "INSERT INTO hpo_trial_values_v2 SELECT trial_id, step, value FROM hpo_trial_values;"
       "DROP TABLE hpo_trial_values;"
       "ALTER TABLE hpo_trial_values_v2 RENAME TO hpo_trial_values;"},
      // Trial user attributes (a pipeline run id...) and study system attributes (a sampler's
      // state, so a resumed study continues it).
      {3, "trial_user_attrs_and_study_system_attrs",
       "CREATE TABLE hpo_trial_user_attrs ("
       "  trial_id INTEGER NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  key TEXT NOT NULL,"
       "  value TEXT NOT NULL,"  // JSON
       "  PRIMARY KEY (trial_id, key)) WITHOUT ROWID;"
       "CREATE TABLE hpo_study_system_attrs ("
       "  study_id INTEGER NOT NULL REFERENCES hpo_studies(study_id) ON DELETE CASCADE,"
       "  key TEXT NOT NULL,"
       "  value TEXT NOT NULL,"
       "  PRIMARY KEY (study_id, key)) WITHOUT ROWID;"}};
  return *migrations;
}

double Seconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }
absl::Time FromSeconds(const Value& v) {
  if (std::holds_alternative<double>(v))
    return absl::UnixEpoch() + absl::Seconds(std::get<double>(v));
  if (std::holds_alternative<int64_t>(v)) return absl::FromUnixSeconds(std::get<int64_t>(v));
  return absl::InfinitePast();
}
Value TimeValue(absl::Time t) {
  if (t == absl::InfinitePast()) return std::monostate();
  return Seconds(t);
}
double AsDouble(const Value& v) {
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  if (std::holds_alternative<int64_t>(v)) return static_cast<double>(std::get<int64_t>(v));
  return std::nan("");
}
int64_t AsInt(const Value& v) {
  return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : 0;
}
std::string AsText(const Value& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}

std::string FixedToJson(const ParamValue& v) {
  return std::visit([](const auto& x) { return Json(x).dump(); }, v);
}
StatusOr<ParamValue> FixedFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_boolean()) return ParamValue(j.get<bool>());
  if (j.is_number_integer()) return ParamValue(j.get<int64_t>());
  if (j.is_number()) return ParamValue(j.get<double>());
  if (j.is_string()) return ParamValue(j.get<std::string>());
  return absl::DataLossError(absl::StrCat("stored parameter value is not valid: ", text));
}

std::string DirectionsToJson(const std::vector<StudyDirection>& directions) {
  Json j = Json::array();
  for (StudyDirection d : directions) j.push_back(StudyDirectionName(d));
  return j.dump();
}

std::string ValuesToJson(const std::vector<double>& values) {
  Json j = Json::array();
  for (double v : values) j.push_back(v);
  return j.dump();
}

class SqliteStorage : public Storage {
 public:
  // `exclusive`: no one else writes through this connection, so PRAGMA data_version (which
  // changes only for other connections' commits) tells when this storage's view is stale.
  SqliteStorage(std::shared_ptr<MetadataStore> store, bool exclusive)
      : store_(std::move(store)), owner_(internal::ThisProcessOwner()), exclusive_(exclusive) {}

  StatusOr<StudyRecord> CreateStudy(const std::string& name,
                                    const std::vector<StudyDirection>& directions) override {
    if (directions.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("study '", name, "' needs a direction"));
    }
    absl::Time now = absl::Now();
    Value directions_json = std::monostate();
    if (directions.size() > 1) directions_json = DirectionsToJson(directions);
    std::lock_guard<std::recursive_mutex> lock(mu_);
    StatusOr<std::vector<store::Row>> rows =
        Run("INSERT INTO hpo_studies(name, direction, created_at, directions) "
            "VALUES (?1, ?2, ?3, ?4) RETURNING study_id",
            {name, std::string(StudyDirectionName(directions[0])), Seconds(now), directions_json});
    if (absl::IsAlreadyExists(rows.status())) {
      return absl::AlreadyExistsError(
          absl::StrCat("study '", name, "' already exists in ", store_->path()));
    }
    if (!rows.ok()) return rows.status();
    StudyRecord r{AsInt((*rows)[0][0]), name, directions[0], now, directions};
    return r;
  }

  StatusOr<StudyRecord> LoadStudy(const std::string& name) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run("SELECT study_id, name, direction, created_at, directions FROM hpo_studies "
            "WHERE name = ?1",
            {name}));
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("no study named '", name, "' in ", store_->path()));
    }
    return ToStudy(rows[0]);
  }

  StatusOr<std::vector<StudyRecord>> ListStudies() override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run("SELECT study_id, name, direction, created_at, directions FROM hpo_studies "
            "ORDER BY study_id",
            {}));
    std::vector<StudyRecord> out;
    for (const store::Row& r : rows) {
      MLCORE_ASSIGN_OR_RETURN(StudyRecord s, ToStudy(r));
      out.push_back(std::move(s));
    }
    return out;
  }

  Status DeleteStudy(const std::string& name) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(StudyRecord s, LoadStudy(name));
    MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
      for (const char* sql : {"DELETE FROM hpo_trial_values WHERE trial_id IN "
                              "(SELECT trial_id FROM hpo_trials WHERE study_id = ?1)",
                              "DELETE FROM hpo_trial_user_attrs WHERE trial_id IN "
                              "(SELECT trial_id FROM hpo_trials WHERE study_id = ?1)",
                              "DELETE FROM hpo_study_system_attrs WHERE study_id = ?1",
                              "DELETE FROM hpo_trial_params WHERE trial_id IN "
                              "(SELECT trial_id FROM hpo_trials WHERE study_id = ?1)",
                              "DELETE FROM hpo_trials WHERE study_id = ?1",
                              "DELETE FROM hpo_studies WHERE study_id = ?1"}) {
        MLCORE_RETURN_IF_ERROR(Run(sql, {s.id}).status());
      }
      return absl::OkStatus();
    }));
    cache_.erase(s.id);
    return absl::OkStatus();
  }

  StatusOr<FrozenTrial> CreateTrial(int64_t study_id, const FrozenTrial& trial) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    FrozenTrial t = trial;
    MLCORE_RETURN_IF_ERROR(
        store_->Transaction([&]() -> Status { return InsertTrial(study_id, t); }));
    AppendToTail(study_id, t);
    return t;
  }

  StatusOr<std::optional<FrozenTrial>> PopWaitingTrial(int64_t study_id) override {
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

  Status SetParam(int64_t trial_id, const std::string& name, const Distribution& distribution,
                  double internal_value) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    // One statement is its own transaction: no BEGIN/COMMIT round trip of its own.
    MLCORE_RETURN_IF_ERROR(InsertParam(trial_id, name, distribution, internal_value));
    UpdateTail(trial_id, [&](FrozenTrial& t) {
      t.params[name] = distribution.ToExternal(internal_value);
      t.distributions.insert_or_assign(name, distribution);
    });
    return absl::OkStatus();
  }

  Status ReportIntermediate(int64_t trial_id, int64_t step, double value) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    MLCORE_RETURN_IF_ERROR(InsertReports(trial_id, {{step, value}}));
    UpdateTail(trial_id, [&](FrozenTrial& t) { AddReports(t, {{step, value}}); });
    return absl::OkStatus();
  }

  Status ReportIntermediates(int64_t trial_id,
                             const std::vector<std::pair<int64_t, double>>& values) override {
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

  StatusOr<FrozenTrial> StartTrial(int64_t study_id) override {
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

  Status FinishTrial(int64_t trial_id, TrialState state, const std::vector<double>& values,
                     const std::string& error,
                     const std::vector<std::pair<int64_t, double>>& reports) override {
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

  Status SetTrialUserAttr(int64_t trial_id, const std::string& key,
                          const std::string& json_value) override {
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
    for (auto& [study, cache] : cache_) {
      for (auto& t : cache.finished) {
        if (t->id != trial_id) continue;
        auto copy = std::make_shared<FrozenTrial>(*t);
        copy->user_attrs[key] = json_value;
        t = std::move(copy);
      }
    }
    UpdateTail(trial_id, [&](FrozenTrial& t) { t.user_attrs[key] = json_value; });
    return absl::OkStatus();
  }

  Status SetStudySystemAttr(int64_t study_id, const std::string& key,
                            const std::string& value) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return Run("INSERT INTO hpo_study_system_attrs(study_id, key, value) VALUES (?1, ?2, ?3) "
               "ON CONFLICT(study_id, key) DO UPDATE SET value = excluded.value",
               {study_id, key, value})
        .status();
  }

  StatusOr<std::map<std::string, std::string>> GetStudySystemAttrs(int64_t study_id) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run("SELECT key, value FROM hpo_study_system_attrs WHERE study_id = ?1", {study_id}));
    std::map<std::string, std::string> out;
    for (const store::Row& r : rows) out[AsText(r[0])] = AsText(r[1]);
    return out;
  }

  StatusOr<TrialList> GetTrials(int64_t study_id) override {
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

  StatusOr<FrozenTrial> GetTrial(int64_t trial_id) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<FrozenTrial>> rows,
                            ReadTrials(kById, {trial_id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
    return *rows[0];
  }

  StatusOr<int> RecoverStaleTrials(int64_t study_id, bool requeue) override {
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

  std::string description() const override { return store_->path(); }

 private:
  struct Cache {
    int64_t watermark = 0;  // every trial numbered below it is finished and in `finished`
    std::vector<std::shared_ptr<const FrozenTrial>> finished;
    // The trials from the watermark on, as read at data_version, with this storage's writes
    // since applied (copy on write: snapshots handed out never change).
    bool tail_valid = false;
    int64_t data_version = -1;
    std::vector<std::shared_ptr<const FrozenTrial>> tail;
  };

  static void AddReports(FrozenTrial& t, const std::vector<std::pair<int64_t, double>>& reports) {
    for (const auto& [step, v] : reports) t.intermediate_values.emplace(step, v);
  }

  // After this storage inserted `t` (committed): the tail gains it when it is the next number,
  // else (another process numbered in between) the next GetTrials reads again.
  void AppendToTail(int64_t study_id, const FrozenTrial& t) {
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

  // After this storage changed trial `trial_id` (committed): the tail's copy, replaced.
  template <typename Fn>
  void UpdateTail(int64_t trial_id, Fn&& fn) {
    for (auto& [study, cache] : cache_) {
      if (!cache.tail_valid) continue;
      for (auto& t : cache.tail) {
        if (t->id != trial_id) continue;
        auto copy = std::make_shared<FrozenTrial>(*t);
        fn(*copy);
        t = std::move(copy);
        return;
      }
    }
  }

  // The trial filters ReadTrials knows, over hpo_trials t.
  static constexpr const char* kByStudyFrom = "t.study_id = ?1 AND t.number >= ?2";
  static constexpr const char* kById = "t.trial_id = ?1";

  StatusOr<StudyRecord> ToStudy(const store::Row& r) {
    StudyRecord s;
    s.id = AsInt(r[0]);
    s.name = AsText(r[1]);
    MLCORE_ASSIGN_OR_RETURN(s.direction, ParseStudyDirection(AsText(r[2])));
    s.created = FromSeconds(r[3]);
    s.directions = {s.direction};
    if (std::holds_alternative<std::string>(r[4])) {
      Json j = Json::parse(AsText(r[4]), nullptr, false);
      if (!j.is_array() || j.empty()) {
        return absl::DataLossError(
            absl::StrCat("study '", s.name, "' in ", store_->path(),
                         ": stored directions are not valid: ", AsText(r[4])));
      }
      s.directions.clear();
      for (const Json& d : j) {
        StatusOr<StudyDirection> parsed =
            ParseStudyDirection(d.is_string() ? d.get<std::string>() : d.dump());
        if (!parsed.ok()) {
          return absl::DataLossError(absl::StrCat("study '", s.name, "' in ", store_->path(), ": ",
                                                  parsed.status().message()));
        }
        s.directions.push_back(*parsed);
      }
    }
    return s;
  }

  // Runs `sql` with a statement prepared once per storage (SQLite then parses each hot
  // statement once, not at every trial). Needs mu_, which guards the statements; mu_ is always
  // taken before the store's own lock, so the two cannot deadlock.
  StatusOr<std::vector<store::Row>> Run(const std::string& sql, const std::vector<Value>& params) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      MLCORE_ASSIGN_OR_RETURN(store::Statement prepared, store_->Prepare(sql));
      it = statements_.emplace(sql, std::move(prepared)).first;
    }
    return it->second.Run(params);
  }

  // Inside a transaction: the oldest waiting trial of the study, now running; -1 when none.
  StatusOr<int64_t> TakeWaiting(int64_t study_id) {
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run("UPDATE hpo_trials SET state = 'running', owner = ?2, started_at = ?3 "
            "WHERE trial_id = (SELECT trial_id FROM hpo_trials WHERE study_id = ?1 AND "
            "state = 'waiting' ORDER BY number LIMIT 1) RETURNING trial_id",
            {study_id, owner_, Seconds(absl::Now())}));
    return rows.empty() ? -1 : AsInt(rows[0][0]);
  }

  // Inside a transaction: inserts `t` with the study's next number and sets its id and number.
  Status InsertTrial(int64_t study_id, FrozenTrial& t) {
    if (t.state == TrialState::kRunning && t.started == absl::InfinitePast()) {
      t.started = absl::Now();
    }
    if (t.values.empty() && t.has_value && std::isfinite(t.value)) t.values = {t.value};
    Value value = std::monostate();
    if (t.has_value && std::isfinite(t.value)) value = t.value;
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> id,
        Run("INSERT INTO hpo_trials(study_id, number, state, value, error, owner, started_at, "
            "finished_at, objective_values) VALUES (?1, (SELECT COALESCE(MAX(number) + 1, 0) "
            "FROM hpo_trials WHERE study_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "RETURNING trial_id, number",
            {study_id, std::string(TrialStateName(t.state)), value, t.error,
             t.state == TrialState::kRunning ? Value(owner_) : Value(), TimeValue(t.started),
             TimeValue(t.finished),
             t.values.size() > 1 ? Value(ValuesToJson(t.values)) : Value()}));
    t.id = AsInt(id[0][0]);
    t.number = AsInt(id[0][1]);
    for (const auto& [name, v] : t.params) {
      auto d = t.distributions.find(name);
      if (d == t.distributions.end()) {
        MLCORE_RETURN_IF_ERROR(
            Run("INSERT INTO hpo_trial_params(trial_id, name, fixed) VALUES (?1, ?2, ?3)",
                {t.id, name, FixedToJson(v)})
                .status());
      } else {
        MLCORE_ASSIGN_OR_RETURN(double internal, d->second.ToInternal(v));
        MLCORE_RETURN_IF_ERROR(InsertParam(t.id, name, d->second, internal));
      }
    }
    std::vector<std::pair<int64_t, double>> reports(t.intermediate_values.begin(),
                                                    t.intermediate_values.end());
    return InsertReports(t.id, reports);
  }

  // Up to kReportsPerInsert reports per statement: one multi-row INSERT steps the VM once
  // rather than once per report (a trial's buffered reports are written at its end).
  static constexpr size_t kReportsPerInsert = 32;

  Status InsertReports(int64_t trial_id, const std::vector<std::pair<int64_t, double>>& values) {
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

  // "INSERT OR IGNORE ... VALUES (?1, ?2, ?3), (?1, ?4, ?5), ..." for `rows` reports, built once
  // per row count.
  const std::string& ReportsSql(size_t rows) {
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

  Status InsertParam(int64_t trial_id, const std::string& name, const Distribution& d,
                     double internal) {
    return Run("INSERT INTO hpo_trial_params(trial_id, name, value, distribution) "
               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(trial_id, name) DO UPDATE SET "
               "value = excluded.value, distribution = excluded.distribution, fixed = NULL",
               {trial_id, name, internal, DistributionJson(d)})
        .status();
  }

  // Distribution::ToJson of the distributions this storage has written, so a define-by-run
  // loop suggesting the same parameter every trial serializes it once.
  const std::string& DistributionJson(const Distribution& d) {
    for (const auto& [dist, json] : json_cache_) {
      if (dist == d) return json;
    }
    if (json_cache_.size() >= 64) json_cache_.erase(json_cache_.begin());
    json_cache_.emplace_back(d, d.ToJson());
    return json_cache_.back().second;
  }

  StatusOr<Distribution> ParseDistribution(const std::string& json) {
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

  // Trials matching `where` (over hpo_trials t) with their params and intermediate values. Three
  // autocommit reads, no write lock: writers add params and reports before they finish a trial
  // and never change a finished one, so a trial read as finished has all its rows, and a running
  // one read part-way is read again at the next call.
  StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> ReadTrials(const char* where,
                                                                 const std::vector<Value>& args) {
    std::vector<std::shared_ptr<FrozenTrial>> out;
    std::map<int64_t, FrozenTrial*> by_id;
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        Run(absl::StrCat("SELECT t.trial_id, t.number, t.state, t.value, t.error, t.started_at, "
                         "t.finished_at, t.objective_values FROM hpo_trials t WHERE ",
                         where, " ORDER BY t.number"),
            args));
    for (const store::Row& r : rows) {
      auto t = std::make_shared<FrozenTrial>();
      t->id = AsInt(r[0]);
      t->number = AsInt(r[1]);
      MLCORE_ASSIGN_OR_RETURN(t->state, ParseTrialState(AsText(r[2])));
      t->has_value = !std::holds_alternative<std::monostate>(r[3]);
      t->value = AsDouble(r[3]);
      t->error = AsText(r[4]);
      t->started = FromSeconds(r[5]);
      t->finished = FromSeconds(r[6]);
      if (std::holds_alternative<std::string>(r[7])) {
        Json j = Json::parse(AsText(r[7]), nullptr, false);
        if (!j.is_array()) {
          return absl::DataLossError(absl::StrCat("trial ", t->number, " in ", store_->path(),
                                                  ": stored values are not valid"));
        }
        for (const Json& v : j) t->values.push_back(v.is_number() ? v.get<double>() : NAN);
      } else if (t->has_value) {
        t->values = {t->value};
      }
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
    for (const store::Row& r : params) {
      auto it = by_id.find(AsInt(r[0]));
      if (it == by_id.end()) continue;
      std::string name = AsText(r[1]);
      if (std::holds_alternative<std::string>(r[3])) {
        MLCORE_ASSIGN_OR_RETURN(Distribution d, ParseDistribution(AsText(r[3])));
        it->second->params[name] = d.ToExternal(AsDouble(r[2]));
        it->second->distributions.insert_or_assign(name, std::move(d));
      } else {
        MLCORE_ASSIGN_OR_RETURN(it->second->params[name], FixedFromJson(AsText(r[4])));
      }
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

  std::shared_ptr<MetadataStore> store_;
  std::string owner_;
  const bool exclusive_;
  // Guards everything below and is taken by every public method before the store's lock.
  std::recursive_mutex mu_;
  // Declared after store_ so the statements are finalized before the store closes.
  std::map<std::string, store::Statement> statements_;
  std::map<int64_t, Cache> cache_;
  std::map<std::string, Distribution> distribution_cache_;
  std::vector<std::string> reports_sql_;
  std::vector<std::pair<Distribution, std::string>> json_cache_;
};

}  // namespace

StatusOr<std::shared_ptr<Storage>> NewSqliteStorage(std::shared_ptr<MetadataStore> store) {
  if (store == nullptr) return absl::InvalidArgumentError("NewSqliteStorage needs a store");
  MLCORE_RETURN_IF_ERROR(store->Migrate("hpo", HpoMigrations()));
  return std::shared_ptr<Storage>(std::make_shared<SqliteStorage>(std::move(store), false));
}

StatusOr<std::shared_ptr<Storage>> OpenSqliteStorage(const SqliteStorageOptions& options) {
  store::MetadataStoreOptions store_options;
  store_options.path = options.path;
  store_options.busy_timeout = options.busy_timeout;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> store, MetadataStore::Open(store_options));
  MLCORE_RETURN_IF_ERROR(store->Migrate("hpo", HpoMigrations()));
  // This storage is the connection's only user, so its view can skip reads nothing changed.
  return std::shared_ptr<Storage>(std::make_shared<SqliteStorage>(
      std::shared_ptr<MetadataStore>(std::move(store)), /*exclusive=*/true));
}

StatusOr<std::shared_ptr<Storage>> OpenStorage(const std::string& url) {
  return OpenStorage(url, SqliteStorageOptions().busy_timeout);
}

StatusOr<std::shared_ptr<Storage>> OpenStorage(const std::string& url,
                                               absl::Duration busy_timeout) {
  if (busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("storage '", url,
                                                   "': busy_timeout must not be negative, got ",
                                                   absl::FormatDuration(busy_timeout)));
  }
  if (url == "memory" || url == ":memory:") return NewInMemoryStorage();
  SqliteStorageOptions options;
  options.busy_timeout = busy_timeout;
  if (url.empty() || url == "sqlite") return OpenSqliteStorage(options);
  constexpr std::string_view kScheme = "sqlite:///";
  if (url.rfind(kScheme, 0) == 0) {
    options.path = absl::StrCat("/", url.substr(kScheme.size()));
  } else if (url.find("://") == std::string::npos) {
    options.path = url;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "storage '", url, "' is not 'memory', 'sqlite', 'sqlite:///<path>' or a file path"));
  }
  return OpenSqliteStorage(options);
}

}  // namespace mlcore::hpo

// Studies in the SQLite metadata store (tables hpo_*, created by the "hpo" migrations). Every
// write is one statement or one BEGIN IMMEDIATE transaction, so several processes share a study
// safely: trial numbers come from MAX(number) + 1 inside the write lock and a UNIQUE constraint
// backs it up. Finished trials never change, so each process caches them and reads only the
// trials from the first unfinished one on.
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
       "  PRIMARY KEY (trial_id, step));"}};
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

class SqliteStorage : public Storage {
 public:
  explicit SqliteStorage(std::shared_ptr<MetadataStore> store)
      : store_(std::move(store)), owner_(internal::ThisProcessOwner()) {}

  StatusOr<StudyRecord> CreateStudy(const std::string& name, StudyDirection direction) override {
    absl::Time now = absl::Now();
    StatusOr<std::vector<store::Row>> rows = store_->Query(
        "INSERT INTO hpo_studies(name, direction, created_at) VALUES (?1, ?2, ?3) "
        "RETURNING study_id",
        {name, std::string(StudyDirectionName(direction)), Seconds(now)});
    if (absl::IsAlreadyExists(rows.status())) {
      return absl::AlreadyExistsError(
          absl::StrCat("study '", name, "' already exists in ", store_->path()));
    }
    if (!rows.ok()) return rows.status();
    return StudyRecord{AsInt((*rows)[0][0]), name, direction, now};
  }

  StatusOr<StudyRecord> LoadStudy(const std::string& name) override {
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        store_->Query("SELECT study_id, name, direction, created_at FROM hpo_studies "
                      "WHERE name = ?1",
                      {name}));
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("no study named '", name, "' in ", store_->path()));
    }
    return ToStudy(rows[0]);
  }

  StatusOr<std::vector<StudyRecord>> ListStudies() override {
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        store_->Query("SELECT study_id, name, direction, created_at FROM hpo_studies "
                      "ORDER BY study_id"));
    std::vector<StudyRecord> out;
    for (const store::Row& r : rows) {
      MLCORE_ASSIGN_OR_RETURN(StudyRecord s, ToStudy(r));
      out.push_back(std::move(s));
    }
    return out;
  }

  Status DeleteStudy(const std::string& name) override {
    MLCORE_ASSIGN_OR_RETURN(StudyRecord s, LoadStudy(name));
    MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
      for (const char* sql : {"DELETE FROM hpo_trial_values WHERE trial_id IN "
                              "(SELECT trial_id FROM hpo_trials WHERE study_id = ?1)",
                              "DELETE FROM hpo_trial_params WHERE trial_id IN "
                              "(SELECT trial_id FROM hpo_trials WHERE study_id = ?1)",
                              "DELETE FROM hpo_trials WHERE study_id = ?1",
                              "DELETE FROM hpo_studies WHERE study_id = ?1"}) {
        MLCORE_RETURN_IF_ERROR(store_->Query(sql, {s.id}).status());
      }
      return absl::OkStatus();
    }));
    std::lock_guard<std::mutex> lock(cache_mu_);
    cache_.erase(s.id);
    return absl::OkStatus();
  }

  StatusOr<FrozenTrial> CreateTrial(int64_t study_id, const FrozenTrial& trial) override {
    FrozenTrial t = trial;
    if (t.state == TrialState::kRunning && t.started == absl::InfinitePast()) {
      t.started = absl::Now();
    }
    MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> next,
          InTransaction("SELECT COALESCE(MAX(number) + 1, 0) FROM hpo_trials WHERE study_id = ?1",
                        {study_id}));
      t.number = AsInt(next[0][0]);
      Value value = std::monostate();
      if (t.has_value && std::isfinite(t.value)) value = t.value;
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> id,
          InTransaction("INSERT INTO hpo_trials(study_id, number, state, value, error, owner, "
                        "started_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                        "RETURNING trial_id",
                        {study_id, t.number, std::string(TrialStateName(t.state)), value, t.error,
                         t.state == TrialState::kRunning ? Value(owner_) : Value(),
                         TimeValue(t.started), TimeValue(t.finished)}));
      t.id = AsInt(id[0][0]);
      for (const auto& [name, v] : t.params) {
        auto d = t.distributions.find(name);
        if (d == t.distributions.end()) {
          MLCORE_RETURN_IF_ERROR(
              InTransaction(
                  "INSERT INTO hpo_trial_params(trial_id, name, fixed) VALUES (?1, ?2, ?3)",
                  {t.id, name, FixedToJson(v)})
                  .status());
        } else {
          MLCORE_ASSIGN_OR_RETURN(double internal, d->second.ToInternal(v));
          MLCORE_RETURN_IF_ERROR(InsertParam(t.id, name, d->second, internal));
        }
      }
      for (const auto& [step, v] : t.intermediate_values) {
        MLCORE_RETURN_IF_ERROR(ReportIntermediate(t.id, step, v));
      }
      return absl::OkStatus();
    }));
    return t;
  }

  StatusOr<std::optional<FrozenTrial>> PopWaitingTrial(int64_t study_id) override {
    int64_t trial_id = -1;
    MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> rows,
          InTransaction("SELECT trial_id FROM hpo_trials WHERE study_id = ?1 AND state = 'waiting' "
                        "ORDER BY number LIMIT 1",
                        {study_id}));
      if (rows.empty()) return absl::OkStatus();
      trial_id = AsInt(rows[0][0]);
      return InTransaction(
                 "UPDATE hpo_trials SET state = 'running', owner = ?2, started_at = ?3 "
                 "WHERE trial_id = ?1",
                 {trial_id, owner_, Seconds(absl::Now())})
          .status();
    }));
    if (trial_id < 0) return std::optional<FrozenTrial>();
    MLCORE_ASSIGN_OR_RETURN(FrozenTrial t, GetTrial(trial_id));
    return std::optional<FrozenTrial>(std::move(t));
  }

  Status SetParam(int64_t trial_id, const std::string& name, const Distribution& distribution,
                  double internal_value) override {
    return store_->Transaction(
        [&]() -> Status { return InsertParam(trial_id, name, distribution, internal_value); });
  }

  Status ReportIntermediate(int64_t trial_id, int64_t step, double value) override {
    Value v = std::isnan(value) ? Value() : Value(value);
    return store_
        ->Query("INSERT OR IGNORE INTO hpo_trial_values(trial_id, step, value) VALUES (?1, ?2, ?3)",
                {trial_id, step, v})
        .status();
  }

  Status ReportIntermediates(int64_t trial_id,
                             const std::vector<std::pair<int64_t, double>>& values) override {
    if (values.empty()) return absl::OkStatus();
    return store_->Transaction([&]() -> Status {
      for (const auto& [step, value] : values) {
        Value v = std::monostate();
        if (!std::isnan(value)) v = value;
        MLCORE_RETURN_IF_ERROR(InTransaction("INSERT OR IGNORE INTO hpo_trial_values(trial_id, "
                                             "step, value) VALUES (?1, ?2, ?3)",
                                             {Value(trial_id), Value(step), v})
                                   .status());
      }
      return absl::OkStatus();
    });
  }

  StatusOr<FrozenTrial> StartTrial(int64_t study_id) override {
    std::optional<FrozenTrial> started;
    MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
      MLCORE_ASSIGN_OR_RETURN(started, PopWaitingTrial(study_id));
      if (started.has_value()) return absl::OkStatus();
      FrozenTrial fresh;
      fresh.state = TrialState::kRunning;
      MLCORE_ASSIGN_OR_RETURN(started, CreateTrial(study_id, fresh));
      return absl::OkStatus();
    }));
    return *std::move(started);
  }

  Status FinishTrial(int64_t trial_id, TrialState state, std::optional<double> value,
                     const std::string& error,
                     const std::vector<std::pair<int64_t, double>>& reports) override {
    return store_->Transaction([&]() -> Status {
      MLCORE_RETURN_IF_ERROR(ReportIntermediates(trial_id, reports));
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> rows,
          InTransaction(
              "UPDATE hpo_trials SET state = ?2, value = ?3, error = ?4, "
              "finished_at = ?5, owner = NULL WHERE trial_id = ?1 AND state = 'running' "
              "RETURNING number",
              {trial_id, std::string(TrialStateName(state)),
               value.has_value() ? Value(*value) : Value(), error, Seconds(absl::Now())}));
      if (!rows.empty()) return absl::OkStatus();
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> now,
          store_->Query("SELECT number, state, error FROM hpo_trials WHERE trial_id = ?1",
                        {trial_id}));
      if (now.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
      return absl::FailedPreconditionError(
          absl::StrCat("trial ", AsInt(now[0][0]), " is ", AsText(now[0][1]),
                       ", not running; its result was not recorded (", AsText(now[0][2]), ")"));
    });
  }

  StatusOr<TrialList> GetTrials(int64_t study_id) override {
    std::lock_guard<std::mutex> lock(cache_mu_);
    Cache& cache = cache_[study_id];
    MLCORE_ASSIGN_OR_RETURN(
        std::vector<std::shared_ptr<FrozenTrial>> fresh,
        ReadTrials("t.study_id = ?1 AND t.number >= ?2", {study_id, cache.watermark}));
    for (auto& t : fresh) {
      if (t->number == cache.watermark && IsFinished(t->state)) {
        cache.finished.push_back(t);
        ++cache.watermark;
      }
    }
    TrialList out(cache.finished.begin(), cache.finished.end());
    for (auto& t : fresh) {
      if (t->number >= cache.watermark) out.push_back(t);
    }
    return out;
  }

  StatusOr<FrozenTrial> GetTrial(int64_t trial_id) override {
    MLCORE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<FrozenTrial>> rows,
                            ReadTrials("t.trial_id = ?1", {trial_id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
    return *rows[0];
  }

  StatusOr<int> RecoverStaleTrials(int64_t study_id, bool requeue) override {
    int recovered = 0;
    MLCORE_RETURN_IF_ERROR(store_->Transaction([&]() -> Status {
      recovered = 0;
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> rows,
          store_->Query("SELECT trial_id, owner FROM hpo_trials WHERE study_id = ?1 AND "
                        "state = 'running'",
                        {study_id}));
      for (const store::Row& r : rows) {
        std::string owner = AsText(r[1]);
        if (internal::OwnerAlive(owner)) continue;
        ++recovered;
        if (requeue) {
          MLCORE_RETURN_IF_ERROR(
              store_->Query("DELETE FROM hpo_trial_values WHERE trial_id = ?1", {r[0]}).status());
          MLCORE_RETURN_IF_ERROR(
              store_
                  ->Query("UPDATE hpo_trials SET state = 'waiting', owner = NULL, "
                          "started_at = NULL WHERE trial_id = ?1",
                          {r[0]})
                  .status());
        } else {
          MLCORE_RETURN_IF_ERROR(
              store_
                  ->Query("UPDATE hpo_trials SET state = 'failed', owner = NULL, error = ?2, "
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
  };

  StatusOr<StudyRecord> ToStudy(const store::Row& r) {
    MLCORE_ASSIGN_OR_RETURN(StudyDirection d, ParseStudyDirection(AsText(r[2])));
    return StudyRecord{AsInt(r[0]), AsText(r[1]), d, FromSeconds(r[3])};
  }

  // Runs `sql` with a statement prepared once per storage. Only inside store_->Transaction:
  // the transaction holds the connection's lock, which is what guards the cache, and SQLite
  // then parses each of the hot statements once instead of at every trial.
  StatusOr<std::vector<store::Row>> InTransaction(const std::string& sql,
                                                  const std::vector<Value>& params) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      MLCORE_ASSIGN_OR_RETURN(store::Statement prepared, store_->Prepare(sql));
      it = statements_.emplace(sql, std::move(prepared)).first;
    }
    store::Statement& st = it->second;
    MLCORE_RETURN_IF_ERROR(st.Reset());
    MLCORE_RETURN_IF_ERROR(st.BindAll(params));
    std::vector<store::Row> rows;
    while (true) {
      MLCORE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rows.push_back(st.ReadRow());
    }
    MLCORE_RETURN_IF_ERROR(st.Reset());
    return rows;
  }

  Status InsertParam(int64_t trial_id, const std::string& name, const Distribution& d,
                     double internal) {
    return InTransaction(
               "INSERT INTO hpo_trial_params(trial_id, name, value, distribution) "
               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(trial_id, name) DO UPDATE SET "
               "value = excluded.value, distribution = excluded.distribution, fixed = NULL",
               {trial_id, name, internal, d.ToJson()})
        .status();
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

  // Trials matching `where` (over hpo_trials t) with their params and intermediate values.
  StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> ReadTrials(const std::string& where,
                                                                 const std::vector<Value>& args) {
    std::vector<std::shared_ptr<FrozenTrial>> out;
    std::map<int64_t, FrozenTrial*> by_id;
    // Three autocommit reads, no write lock: writers add params and reports before they finish
    // a trial and never change a finished one, so a trial read as finished has all its rows,
    // and a running one read part-way is read again at the next call.
    std::lock_guard<std::mutex> parse_lock(parse_mu_);
    MLCORE_RETURN_IF_ERROR([&]() -> Status {
      out.clear();
      by_id.clear();
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> rows,
          store_->Query(absl::StrCat("SELECT t.trial_id, t.number, t.state, t.value, t.error, "
                                     "t.started_at, t.finished_at FROM hpo_trials t WHERE ",
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
        by_id[t->id] = t.get();
        out.push_back(std::move(t));
      }
      if (out.empty()) return absl::OkStatus();
      MLCORE_ASSIGN_OR_RETURN(
          std::vector<store::Row> params,
          store_->Query(absl::StrCat("SELECT p.trial_id, p.name, p.value, p.distribution, p.fixed "
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
          store_->Query(absl::StrCat("SELECT v.trial_id, v.step, v.value FROM hpo_trial_values v "
                                     "JOIN hpo_trials t ON t.trial_id = v.trial_id WHERE ",
                                     where),
                        args));
      for (const store::Row& r : values) {
        auto it = by_id.find(AsInt(r[0]));
        if (it != by_id.end()) it->second->intermediate_values[AsInt(r[1])] = AsDouble(r[2]);
      }
      return absl::OkStatus();
    }());
    return out;
  }

  std::shared_ptr<MetadataStore> store_;
  // Declared after store_ so the statements are finalized before the store closes; guarded by
  // the store's transaction lock (see InTransaction).
  std::map<std::string, store::Statement> statements_;
  std::string owner_;
  std::mutex cache_mu_;
  std::map<int64_t, Cache> cache_;
  std::mutex parse_mu_;
  std::map<std::string, Distribution> distribution_cache_;  // guarded by parse_mu_
};

}  // namespace

StatusOr<std::shared_ptr<Storage>> NewSqliteStorage(std::shared_ptr<MetadataStore> store) {
  if (store == nullptr) return absl::InvalidArgumentError("NewSqliteStorage needs a store");
  MLCORE_RETURN_IF_ERROR(store->Migrate("hpo", HpoMigrations()));
  return std::shared_ptr<Storage>(std::make_shared<SqliteStorage>(std::move(store)));
}

StatusOr<std::shared_ptr<Storage>> OpenSqliteStorage(const SqliteStorageOptions& options) {
  store::MetadataStoreOptions store_options;
  store_options.path = options.path;
  store_options.busy_timeout = options.busy_timeout;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> store, MetadataStore::Open(store_options));
  return NewSqliteStorage(std::shared_ptr<MetadataStore>(std::move(store)));
}

StatusOr<std::shared_ptr<Storage>> OpenStorage(const std::string& url) {
  if (url == "memory" || url == ":memory:") return NewInMemoryStorage();
  if (url.empty() || url == "sqlite") return OpenSqliteStorage();
  SqliteStorageOptions options;
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

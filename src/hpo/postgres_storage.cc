// Opening a PostgreSQL storage, its schema (the "hpo" migrations), studies and heartbeats.
#include "hpo/postgres_storage.h"

#include <charconv>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/process_identity.h"
#include "hpo/sqlite_storage.h"
#include "mlcore/core/logging.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {

const std::vector<store::Migration>& PostgresHpoMigrations() {
  // The tables of the SQLite schema at its version 3, plus the per-study trial counter and the
  // heartbeat column. Times are seconds since the epoch (float8) as in SQLite, except the
  // heartbeat, which is the server's clock so that machines with skewed clocks agree on it.
  static const auto* migrations = new std::vector<store::Migration>{
      {1, "create_studies_and_trials",
       "CREATE TABLE hpo_studies ("
       "  study_id BIGSERIAL PRIMARY KEY,"
       "  name TEXT NOT NULL UNIQUE,"
       "  direction TEXT NOT NULL CHECK (direction IN ('minimize', 'maximize')),"
       "  created_at DOUBLE PRECISION NOT NULL,"
       "  directions TEXT,"
       "  next_number BIGINT NOT NULL DEFAULT 0);"
       "CREATE TABLE hpo_trials ("
       "  trial_id BIGSERIAL PRIMARY KEY,"
       "  study_id BIGINT NOT NULL REFERENCES hpo_studies(study_id) ON DELETE CASCADE,"
       "  number BIGINT NOT NULL,"
       "  state TEXT NOT NULL"
       "    CHECK (state IN ('running', 'complete', 'pruned', 'failed', 'waiting')),"
       "  value DOUBLE PRECISION,"
       "  error TEXT NOT NULL DEFAULT '',"
       "  owner TEXT,"
       "  started_at DOUBLE PRECISION,"
       "  finished_at DOUBLE PRECISION,"
       "  objective_values TEXT,"
       "  heartbeat_at TIMESTAMPTZ,"
       "  UNIQUE (study_id, number));"
       "CREATE INDEX hpo_trials_waiting ON hpo_trials(study_id, number) WHERE state = 'waiting';"
       "CREATE INDEX hpo_trials_running ON hpo_trials(study_id) WHERE state = 'running';"
       "CREATE TABLE hpo_trial_params ("
       "  trial_id BIGINT NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  name TEXT NOT NULL,"
       "  value DOUBLE PRECISION,"
       "  distribution TEXT,"
       "  fixed TEXT,"
       "  PRIMARY KEY (trial_id, name));"
       "CREATE TABLE hpo_trial_values ("
       "  trial_id BIGINT NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  step BIGINT NOT NULL,"
       "  value DOUBLE PRECISION,"
       "  PRIMARY KEY (trial_id, step));"
       "CREATE TABLE hpo_trial_user_attrs ("
       "  trial_id BIGINT NOT NULL REFERENCES hpo_trials(trial_id) ON DELETE CASCADE,"
       "  key TEXT NOT NULL,"
       "  value TEXT NOT NULL,"
       "  PRIMARY KEY (trial_id, key));"
       "CREATE TABLE hpo_study_system_attrs ("
       "  study_id BIGINT NOT NULL REFERENCES hpo_studies(study_id) ON DELETE CASCADE,"
       "  key TEXT NOT NULL,"
       "  value TEXT NOT NULL,"
       "  PRIMARY KEY (study_id, key));"}};
  return *migrations;
}

namespace {

// Seconds (a number, possibly fractional) or an absl duration ("30s") from the URL.
Status TakeSeconds(store::PostgresOptions& options, const std::string& key, absl::Duration* out) {
  std::string& url = options.url;
  size_t at = url.find(absl::StrCat(key, "="));
  if (at == std::string::npos || (url[at - 1] != '?' && url[at - 1] != '&')) {
    return absl::OkStatus();
  }
  size_t end = url.find('&', at);
  std::string value =
      url.substr(at + key.size() + 1, end == std::string::npos ? end : end - at - key.size() - 1);
  double seconds = 0;
  if (absl::SimpleAtod(value, &seconds) && seconds >= 0) {
    *out = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(value, out) || *out < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("storage URL ", store::RedactPostgresUrl(url),
                                                   ": ", key, "='", value,
                                                   "' is not seconds or a duration (30s)"));
  }
  // Remove "key=value" and its separator so the store never sees it.
  size_t from = at - 1, to = end == std::string::npos ? url.size() : end;
  if (url[from] == '?' && end != std::string::npos) {
    ++from;
    ++to;
  }
  url.erase(from, to - from);
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::shared_ptr<Storage>> OpenPostgresStorage(const PostgresStorageOptions& given) {
  PostgresStorageOptions options = given;
  MLCORE_RETURN_IF_ERROR(
      TakeSeconds(options.store, "heartbeat_interval", &options.heartbeat_interval));
  MLCORE_RETURN_IF_ERROR(TakeSeconds(options.store, "grace_period", &options.grace_period));
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<store::PostgresStore> store,
                          store::PostgresStore::Open(options.store));
  MLCORE_RETURN_IF_ERROR(store->Migrate("hpo", PostgresHpoMigrations()));
  return std::shared_ptr<Storage>(
      std::make_shared<internal::PostgresStorage>(std::move(store), options));
}

namespace internal {

using Json = nlohmann::json;

std::string IntArray(const std::vector<int64_t>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? "," : "", v[i]);
  return out + "}";
}

std::string DoubleArray(const std::vector<double>& v) {
  std::string out = "{";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    if (std::isnan(v[i])) {
      out += "NULL";
    } else if (std::isinf(v[i])) {
      out += v[i] > 0 ? "Infinity" : "-Infinity";
    } else {
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v[i]);
      out.append(buf, end);
    }
  }
  return out + "}";
}

Value Number(double v) { return std::isnan(v) ? Value() : Value(v); }

PostgresStorage::PostgresStorage(std::shared_ptr<PostgresStore> store,
                                 const PostgresStorageOptions& options)
    : store_(std::move(store)),
      owner_(ThisProcessOwner()),
      heartbeat_interval_(options.heartbeat_interval),
      grace_period_(options.grace_period > absl::ZeroDuration() ? options.grace_period
                                                                : 3 * options.heartbeat_interval) {}

PostgresStorage::~PostgresStorage() {
  {
    std::lock_guard lock(heartbeat_mu_);
    stopping_ = true;
  }
  heartbeat_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void PostgresStorage::Running(int64_t trial_id, bool running) {
  if (heartbeat_interval_ <= absl::ZeroDuration()) return;
  std::lock_guard lock(heartbeat_mu_);
  if (running) {
    running_.insert(trial_id);
    if (!heartbeat_.joinable()) heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  } else {
    running_.erase(trial_id);
  }
}

void PostgresStorage::HeartbeatLoop() {
  std::unique_lock lock(heartbeat_mu_);
  while (!stopping_) {
    heartbeat_cv_.wait_for(lock, absl::ToChronoMicroseconds(heartbeat_interval_),
                           [&] { return stopping_; });
    if (stopping_ || running_.empty()) continue;
    std::vector<int64_t> ids(running_.begin(), running_.end());
    lock.unlock();
    Status s = store_
                   ->Query(
                       "UPDATE hpo_trials SET heartbeat_at = now() "
                       "WHERE trial_id = ANY($1::bigint[]) AND state = 'running'",
                       {IntArray(ids)})
                   .status();
    if (!s.ok()) {
      MLCORE_LOG(Warning) << "hpo heartbeat: " << s.message();
    }
    lock.lock();
  }
}

StatusOr<StudyRecord> PostgresStorage::CreateStudy(const std::string& name,
                                                   const std::vector<StudyDirection>& directions) {
  absl::Time now = absl::Now();
  MLCORE_ASSIGN_OR_RETURN(std::vector<Value> values, NewStudyValues(name, directions, now));
  StatusOr<std::vector<Row>> rows = store_->Query(
      "INSERT INTO hpo_studies(name, direction, created_at, directions) "
      "VALUES ($1, $2, $3, $4) RETURNING study_id",
      values);
  if (absl::IsAlreadyExists(rows.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("study '", name, "' already exists in ", description()));
  }
  if (!rows.ok()) return rows.status();
  return StudyRecord{AsInt((*rows)[0][0]), name, directions[0], FromSeconds(Seconds(now)),
                     directions};
}

StatusOr<StudyRecord> PostgresStorage::LoadStudy(const std::string& name) {
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      store_->Query("SELECT study_id, name, direction, created_at, directions FROM hpo_studies "
                    "WHERE name = $1",
                    {name}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no study named '", name, "' in ", description()));
  }
  return ToStudy(rows[0]);
}

StatusOr<std::vector<StudyRecord>> PostgresStorage::ListStudies() {
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      store_->Query("SELECT study_id, name, direction, created_at, directions FROM hpo_studies "
                    "ORDER BY study_id"));
  std::vector<StudyRecord> out;
  for (const Row& r : rows) {
    MLCORE_ASSIGN_OR_RETURN(StudyRecord s, ToStudy(r));
    out.push_back(std::move(s));
  }
  return out;
}

Status PostgresStorage::DeleteStudy(const std::string& name) {
  MLCORE_ASSIGN_OR_RETURN(StudyRecord s, LoadStudy(name));
  // The foreign keys cascade to trials, params, reports and attributes.
  MLCORE_RETURN_IF_ERROR(
      store_->Query("DELETE FROM hpo_studies WHERE study_id = $1", {s.id}).status());
  std::lock_guard lock(mu_);
  cache_.erase(s.id);
  return absl::OkStatus();
}

Status PostgresStorage::SetStudySystemAttr(int64_t study_id, const std::string& key,
                                           const std::string& value) {
  return store_
      ->Query(
          "INSERT INTO hpo_study_system_attrs(study_id, key, value) VALUES ($1, $2, $3) "
          "ON CONFLICT (study_id, key) DO UPDATE SET value = excluded.value",
          {study_id, key, value})
      .status();
}

StatusOr<std::map<std::string, std::string>> PostgresStorage::GetStudySystemAttrs(
    int64_t study_id) {
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      store_->Query("SELECT key, value FROM hpo_study_system_attrs WHERE study_id = $1",
                    {study_id}));
  std::map<std::string, std::string> out;
  for (const Row& r : rows) out[AsText(r[0])] = AsText(r[1]);
  return out;
}

StatusOr<StudyRecord> PostgresStorage::ToStudy(const Row& r) {
  return StudyFromRow(r, description());
}

}  // namespace internal
}  // namespace mlcore::hpo

// Opening a SQLite storage, its schema (the "hpo" migrations) and its prepared statements.
#include "hpo/sqlite_storage.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mlcore/hpo/postgres_storage.h"

namespace mlcore::hpo {

using store::MetadataStore;
namespace internal {

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

StatusOr<std::vector<store::Row>> SqliteStorage::Run(const std::string& sql,
                                                     const std::vector<Value>& params) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    MLCORE_ASSIGN_OR_RETURN(store::Statement prepared, store_->Prepare(sql));
    it = statements_.emplace(sql, std::move(prepared)).first;
  }
  return it->second.Run(params);
}

}  // namespace internal

StatusOr<std::shared_ptr<Storage>> NewSqliteStorage(std::shared_ptr<MetadataStore> store) {
  if (store == nullptr) return absl::InvalidArgumentError("NewSqliteStorage needs a store");
  MLCORE_RETURN_IF_ERROR(store->Migrate("hpo", internal::HpoMigrations()));
  return std::shared_ptr<Storage>(
      std::make_shared<internal::SqliteStorage>(std::move(store), false));
}

StatusOr<std::shared_ptr<Storage>> OpenSqliteStorage(const SqliteStorageOptions& options) {
  store::MetadataStoreOptions store_options;
  store_options.path = options.path;
  store_options.busy_timeout = options.busy_timeout;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> store, MetadataStore::Open(store_options));
  MLCORE_RETURN_IF_ERROR(store->Migrate("hpo", internal::HpoMigrations()));
  // This storage is the connection's only user, so its view can skip reads nothing changed.
  return std::shared_ptr<Storage>(std::make_shared<internal::SqliteStorage>(
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
  if (store::IsPostgresUrl(url)) {  // the busy timeout is the server's lock_timeout there
    PostgresStorageOptions pg;
    pg.store.url = url;
    pg.store.lock_timeout = std::max(busy_timeout, absl::Milliseconds(1));
    return OpenPostgresStorage(pg);
  }
  SqliteStorageOptions options;
  options.busy_timeout = busy_timeout;
  if (url.empty() || url == "sqlite") return OpenSqliteStorage(options);
  // As SQLAlchemy and Optuna read it: the path is what follows "sqlite:///", so
  // "sqlite:///rel.db" is relative to the working directory and "sqlite:////abs.db" absolute.
  constexpr std::string_view kScheme = "sqlite:///";
  if (url.rfind(kScheme, 0) == 0) {
    options.path = url.substr(kScheme.size());
    if (options.path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("storage '", url, "' names no file (sqlite:///<path>)"));
    }
  } else if (url.find("://") == std::string::npos) {
    options.path = url;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "storage '", url, "' is not 'memory', 'sqlite', 'sqlite:///<path>' or a file path"));
  }
  return OpenSqliteStorage(options);
}

}  // namespace mlcore::hpo

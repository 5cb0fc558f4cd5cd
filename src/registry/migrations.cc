// The registry's schema. Versions are numbered from registry_models.last_version, bumped in the
// same transaction that inserts the version row, so numbers are never reused after a delete and
// concurrent writers (serialised by BEGIN IMMEDIATE) get contiguous ones.
#include "mlcore/registry/model_registry.h"

namespace mlcore::registry {

const std::vector<store::Migration>& RegistryMigrations() {
  static const auto* migrations = new std::vector<store::Migration>{
      {1, "create_registry_tables",
       R"sql(
CREATE TABLE registry_models(
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, last_version INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE registry_versions(
  model_id INTEGER NOT NULL REFERENCES registry_models(id), version INTEGER NOT NULL,
  digest TEXT NOT NULL, size INTEGER NOT NULL, source TEXT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '{}',
  lineage TEXT NOT NULL DEFAULT '{}', run_id TEXT, description TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL, PRIMARY KEY(model_id, version));
CREATE INDEX registry_versions_by_run ON registry_versions(run_id);
CREATE TABLE registry_aliases(
  model_id INTEGER NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY(model_id, alias),
  FOREIGN KEY(model_id, version) REFERENCES registry_versions(model_id, version));
)sql"},
  };
  return *migrations;
}

const std::vector<store::Migration>& PostgresRegistryMigrations() {
  static const auto* migrations = new std::vector<store::Migration>{
      {1, "create_registry_tables",
       R"sql(
CREATE TABLE registry_models(
  id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, last_version BIGINT NOT NULL DEFAULT 0,
  created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL);
CREATE TABLE registry_versions(
  model_id BIGINT NOT NULL REFERENCES registry_models(id), version BIGINT NOT NULL,
  digest TEXT NOT NULL, size BIGINT NOT NULL, source TEXT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '{}',
  lineage TEXT NOT NULL DEFAULT '{}', run_id TEXT, description TEXT NOT NULL DEFAULT '',
  created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY(model_id, version));
CREATE INDEX registry_versions_by_run ON registry_versions(run_id);
CREATE TABLE registry_aliases(
  model_id BIGINT NOT NULL, alias TEXT NOT NULL, version BIGINT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY(model_id, alias),
  FOREIGN KEY(model_id, version) REFERENCES registry_versions(model_id, version));
)sql"},
  };
  return *migrations;
}

}  // namespace mlcore::registry

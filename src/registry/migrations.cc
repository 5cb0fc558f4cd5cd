// The registry's schema, written once and rendered for SQLite or PostgreSQL (store/ddl.h).
// Versions are numbered from registry_models.last_version, bumped in the same transaction that
// inserts the version row, so numbers are never reused after a delete and concurrent writers
// (serialised by BEGIN IMMEDIATE, or the row lock on PostgreSQL) get contiguous ones.
#include "mlcore/registry/model_registry.h"
#include "mlcore/store/ddl.h"

namespace mlcore::registry {

namespace {

const std::vector<store::Migration>& RegistryTables() {
  static const auto* migrations = new std::vector<store::Migration>{
      {1, "create_registry_tables",
       R"sql(
CREATE TABLE registry_models(
  id {ID}, name TEXT NOT NULL UNIQUE, last_version {INT} NOT NULL DEFAULT 0,
  created_at {REAL} NOT NULL, updated_at {REAL} NOT NULL);
CREATE TABLE registry_versions(
  model_id {INT} NOT NULL REFERENCES registry_models(id), version {INT} NOT NULL,
  digest TEXT NOT NULL, size {INT} NOT NULL, source TEXT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '{}',
  lineage TEXT NOT NULL DEFAULT '{}', run_id TEXT, description TEXT NOT NULL DEFAULT '',
  created_at {REAL} NOT NULL, PRIMARY KEY(model_id, version));
CREATE INDEX registry_versions_by_run ON registry_versions(run_id);
CREATE TABLE registry_aliases(
  model_id {INT} NOT NULL, alias TEXT NOT NULL, version {INT} NOT NULL,
  updated_at {REAL} NOT NULL, PRIMARY KEY(model_id, alias),
  FOREIGN KEY(model_id, version) REFERENCES registry_versions(model_id, version));
)sql"},
  };
  return *migrations;
}

}  // namespace

const std::vector<store::Migration>& RegistryMigrations() {
  static const auto* rendered = new std::vector<store::Migration>(
      store::RenderMigrations(RegistryTables(), store::SqlDialect::kSqlite));
  return *rendered;
}

const std::vector<store::Migration>& PostgresRegistryMigrations() {
  static const auto* rendered = new std::vector<store::Migration>(
      store::RenderMigrations(RegistryTables(), store::SqlDialect::kPostgres));
  return *rendered;
}

}  // namespace mlcore::registry

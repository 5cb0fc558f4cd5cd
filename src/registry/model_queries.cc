// Reading the registry (models, versions, references) and the writes that change no files:
// aliases and version deletes, each one transaction.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "mlcore/registry/model_registry.h"
#include "registry/rows.h"

namespace mlcore::registry {

using internal::Int;
using internal::NowSeconds;
using internal::Text;

StatusOr<int64_t> ModelRegistry::ModelId(std::string_view name) {
  MLCORE_RETURN_IF_ERROR(ValidateModelName(name));
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      metadata_->Query("SELECT id FROM registry_models WHERE name = ?1", {std::string(name)}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("unknown model '", std::string(name), "'"));
  }
  return Int(rows[0][0]);
}

StatusOr<std::vector<ModelVersion>> ModelRegistry::QueryVersions(
    std::string_view where, const std::vector<store::Value>& params) {
  std::string sql = absl::StrCat(internal::kVersionColumns, std::string(where));
  // The aliases joined into one column: group_concat on SQLite, string_agg on PostgreSQL.
  if (metadata_->dialect() == store::SqlDialect::kPostgres) {
    sql = absl::StrReplaceAll(sql, {{"group_concat(", "string_agg("}});
  }
  MLCORE_ASSIGN_OR_RETURN(auto rows, metadata_->Query(sql, params));
  std::vector<ModelVersion> out;
  out.reserve(rows.size());
  for (const store::Row& row : rows) out.push_back(internal::VersionFromRow(row));
  return out;
}

StatusOr<std::vector<RegisteredModel>> ModelRegistry::ListModels() {
  std::vector<RegisteredModel> out;
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      metadata_->Query("SELECT m.name, m.created_at, (SELECT MAX(version) FROM registry_versions v "
                       "WHERE v.model_id = m.id), (SELECT COUNT(*) FROM registry_versions v WHERE "
                       "v.model_id = m.id) FROM registry_models m ORDER BY m.name"));
  MLCORE_ASSIGN_OR_RETURN(auto aliases,
                          metadata_->Query("SELECT m.name, a.alias, a.version FROM "
                                           "registry_aliases a JOIN registry_models m ON "
                                           "m.id = a.model_id"));
  for (const store::Row& r : rows) {
    RegisteredModel m;
    m.name = Text(r[0]);
    m.created_at = internal::Time(r[1]);
    m.latest_version = Int(r[2]);
    m.version_count = Int(r[3]);
    for (const store::Row& a : aliases) {
      if (Text(a[0]) == m.name) m.aliases[Text(a[1])] = Int(a[2]);
    }
    out.push_back(std::move(m));
  }
  return out;
}

StatusOr<RegisteredModel> ModelRegistry::GetModel(std::string_view name) {
  MLCORE_RETURN_IF_ERROR(ModelId(name).status());
  MLCORE_ASSIGN_OR_RETURN(std::vector<RegisteredModel> all, ListModels());
  for (RegisteredModel& m : all) {
    if (m.name == name) return std::move(m);
  }
  return absl::NotFoundError(absl::StrCat("unknown model '", std::string(name), "'"));
}

StatusOr<std::vector<ModelVersion>> ModelRegistry::ListVersions(std::string_view name) {
  MLCORE_ASSIGN_OR_RETURN(int64_t id, ModelId(name));
  return QueryVersions("WHERE v.model_id = ?1 ORDER BY v.version", {id});
}

StatusOr<ModelVersion> ModelRegistry::Resolve(std::string_view ref) {
  MLCORE_ASSIGN_OR_RETURN(ModelRef parsed, ParseModelRef(ref));
  return Resolve(parsed);
}

StatusOr<ModelVersion> ModelRegistry::Resolve(const ModelRef& ref) {
  MLCORE_ASSIGN_OR_RETURN(int64_t id, ModelId(ref.name));
  std::vector<ModelVersion> found;
  if (ref.version) {
    MLCORE_ASSIGN_OR_RETURN(
        found, QueryVersions("WHERE v.model_id = ?1 AND v.version = ?2", {id, *ref.version}));
    if (found.empty()) {
      return absl::NotFoundError(
          absl::StrCat("model '", ref.name, "' has no version ", *ref.version));
    }
  } else if (ref.alias) {
    MLCORE_RETURN_IF_ERROR(ValidateAliasName(*ref.alias));
    // One statement reads the alias and its version, so a concurrent move gives the old or the
    // new version, never a missing one.
    MLCORE_ASSIGN_OR_RETURN(
        found, QueryVersions("JOIN registry_aliases al ON al.model_id = v.model_id AND "
                             "al.version = v.version WHERE al.model_id = ?1 AND al.alias = ?2",
                             {id, *ref.alias}));
    if (found.empty()) {
      return absl::NotFoundError(
          absl::StrCat("model '", ref.name, "' has no alias '", *ref.alias, "'"));
    }
  } else {
    MLCORE_ASSIGN_OR_RETURN(
        found, QueryVersions("WHERE v.model_id = ?1 ORDER BY v.version DESC LIMIT 1", {id}));
    if (found.empty()) {
      return absl::NotFoundError(absl::StrCat("model '", ref.name, "' has no versions left"));
    }
  }
  return std::move(found[0]);
}

Status ModelRegistry::SetAlias(std::string_view name, std::string_view alias, int64_t version) {
  MLCORE_RETURN_IF_ERROR(ValidateAliasName(alias));
  return metadata_->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(int64_t id, ModelId(name));
    MLCORE_ASSIGN_OR_RETURN(
        auto rows, metadata_->Query("SELECT 1 FROM registry_versions WHERE model_id = ?1 AND "
                                    "version = ?2",
                                    {id, version}));
    if (rows.empty()) {
      return absl::NotFoundError(
          absl::StrCat("model '", std::string(name), "' has no version ", version));
    }
    return metadata_
        ->Query(
            "INSERT INTO registry_aliases(model_id, alias, version, updated_at) "
            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(model_id, alias) DO UPDATE SET "
            "version = excluded.version, updated_at = excluded.updated_at",
            {id, std::string(alias), version, NowSeconds()})
        .status();
  });
}

Status ModelRegistry::DeleteAlias(std::string_view name, std::string_view alias) {
  MLCORE_RETURN_IF_ERROR(ValidateAliasName(alias));
  return metadata_->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(int64_t id, ModelId(name));
    MLCORE_ASSIGN_OR_RETURN(auto deleted, metadata_->Query("DELETE FROM registry_aliases WHERE "
                                                           "model_id = ?1 AND alias = ?2 "
                                                           "RETURNING alias",
                                                           {id, std::string(alias)}));
    if (deleted.empty()) {
      return absl::NotFoundError(
          absl::StrCat("model '", std::string(name), "' has no alias '", std::string(alias), "'"));
    }
    return absl::OkStatus();
  });
}

Status ModelRegistry::DeleteVersion(std::string_view name, int64_t version, bool force) {
  return metadata_->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(int64_t id, ModelId(name));
    MLCORE_ASSIGN_OR_RETURN(auto aliases,
                            metadata_->Query("SELECT alias FROM registry_aliases WHERE "
                                             "model_id = ?1 AND version = ?2 ORDER BY alias",
                                             {id, version}));
    if (!aliases.empty() && !force) {
      std::vector<std::string> names;
      for (const store::Row& a : aliases) names.push_back(Text(a[0]));
      return absl::FailedPreconditionError(absl::StrCat(
          "version ", version, " of model '", std::string(name), "' is aliased as ",
          absl::StrJoin(names, ", "), "; move the aliases first or delete with force"));
    }
    MLCORE_RETURN_IF_ERROR(
        metadata_
            ->Query("DELETE FROM registry_aliases WHERE model_id = ?1 AND version = ?2",
                    {id, version})
            .status());
    MLCORE_ASSIGN_OR_RETURN(
        auto deleted,
        metadata_->Query("DELETE FROM registry_versions WHERE model_id = ?1 AND version = ?2 "
                         "RETURNING version",
                         {id, version}));
    if (deleted.empty()) {
      return absl::NotFoundError(
          absl::StrCat("model '", std::string(name), "' has no version ", version));
    }
    return absl::OkStatus();
  });
}

}  // namespace mlcore::registry

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/sqlite_storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {

using Json = nlohmann::json;

StatusOr<StudyRecord> SqliteStorage::CreateStudy(const std::string& name,
                                                 const std::vector<StudyDirection>& directions) {
  absl::Time now = absl::Now();
  MLCORE_ASSIGN_OR_RETURN(std::vector<Value> values, NewStudyValues(name, directions, now));
  std::lock_guard<std::recursive_mutex> lock(mu_);
  StatusOr<std::vector<store::Row>> rows =
      Run("INSERT INTO hpo_studies(name, direction, created_at, directions) "
          "VALUES (?1, ?2, ?3, ?4) RETURNING study_id",
          values);
  if (absl::IsAlreadyExists(rows.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("study '", name, "' already exists in ", store_->path()));
  }
  if (!rows.ok()) return rows.status();
  StudyRecord r{AsInt((*rows)[0][0]), name, directions[0], now, directions};
  return r;
}

StatusOr<StudyRecord> SqliteStorage::LoadStudy(const std::string& name) {
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

StatusOr<std::vector<StudyRecord>> SqliteStorage::ListStudies() {
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

Status SqliteStorage::DeleteStudy(const std::string& name) {
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

Status SqliteStorage::SetStudySystemAttr(int64_t study_id, const std::string& key,
                                         const std::string& value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return Run("INSERT INTO hpo_study_system_attrs(study_id, key, value) VALUES (?1, ?2, ?3) "
             "ON CONFLICT(study_id, key) DO UPDATE SET value = excluded.value",
             {study_id, key, value})
      .status();
}

StatusOr<std::map<std::string, std::string>> SqliteStorage::GetStudySystemAttrs(int64_t study_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(
      std::vector<store::Row> rows,
      Run("SELECT key, value FROM hpo_study_system_attrs WHERE study_id = ?1", {study_id}));
  std::map<std::string, std::string> out;
  for (const store::Row& r : rows) out[AsText(r[0])] = AsText(r[1]);
  return out;
}

StatusOr<StudyRecord> SqliteStorage::ToStudy(const store::Row& r) {
  return StudyFromRow(r, store_->path());
}

}  // namespace mlcore::hpo::internal

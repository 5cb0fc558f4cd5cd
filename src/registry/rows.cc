#include "registry/rows.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_split.h"

namespace mlcore::registry {

bool Lineage::empty() const {
  return run_id.empty() && task.empty() && output.empty() && artifact_id == 0 && study.empty() &&
         !trial.has_value();
}

Json Lineage::ToJson() const {
  Json j = Json::object();
  if (!run_id.empty()) j["run_id"] = run_id;
  if (!task.empty()) j["task"] = task;
  if (!output.empty()) j["output"] = output;
  if (artifact_id != 0) j["artifact_id"] = artifact_id;
  if (!study.empty()) j["study"] = study;
  if (trial.has_value()) j["trial"] = *trial;
  return j;
}

namespace internal {

double NowSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

Lineage LineageFromJson(const Json& j) {
  Lineage l;
  if (!j.is_object()) return l;
  l.run_id = j.value("run_id", "");
  l.task = j.value("task", "");
  l.output = j.value("output", "");
  l.artifact_id = j.value("artifact_id", int64_t{0});
  l.study = j.value("study", "");
  if (j.contains("trial") && j["trial"].is_number_integer()) l.trial = j["trial"].get<int64_t>();
  return l;
}

const char kVersionColumns[] =
    "SELECT m.name, v.version, v.digest, v.size, v.source, v.metrics, v.tags, v.lineage, "
    "v.description, v.created_at, (SELECT group_concat(a.alias, ',') FROM registry_aliases a "
    "WHERE a.model_id = v.model_id AND a.version = v.version) "
    "FROM registry_versions v JOIN registry_models m ON m.id = v.model_id ";

ModelVersion VersionFromRow(const store::Row& r) {
  ModelVersion v;
  v.name = Text(r[0]);
  v.version = Int(r[1]);
  v.digest = Text(r[2]);
  v.size = Int(r[3]);
  v.source = Text(r[4]);
  v.metrics = JsonOr(r[5], Json::object());
  v.tags = JsonOr(r[6], Json::object());
  v.lineage = LineageFromJson(JsonOr(r[7], Json::object()));
  v.description = Text(r[8]);
  v.created_at = Time(r[9]);
  const std::string aliases = Text(r[10]);
  if (!aliases.empty()) v.aliases = absl::StrSplit(aliases, ',');
  std::sort(v.aliases.begin(), v.aliases.end());
  return v;
}

}  // namespace internal
}  // namespace mlcore::registry

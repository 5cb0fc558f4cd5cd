// The experiments page's data: studies with their best value, a study's trials (sorted,
// filtered, paged in SQL so 10,000 trials stay fast), plot data and one trial with its logs.
#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "mlcore/hpo/importance.h"
#include "mlcore/hpo/trial_log.h"
#include "mlcore/store/metadata_store.h"
#include "ui/stores.h"

namespace mlcore::ui {

namespace {

double Seconds(absl::Time t) {
  return t == absl::InfinitePast() ? NAN : absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

Json ParamJson(const hpo::ParamValue& v) {
  return std::visit([](const auto& x) { return Json(x); }, v);
}

Json TrialJson(const hpo::FrozenTrial& t, bool details) {
  Json params = Json::object();
  for (const auto& [name, value] : t.params) params[name] = ParamJson(value);
  Json attrs = Json::object();
  for (const auto& [key, value] : t.user_attrs) attrs[key] = ParseJson(value);
  double started = Seconds(t.started), finished = Seconds(t.finished);
  Json out = {{"number", t.number},
              {"state", hpo::TrialStateName(t.state)},
              {"value", t.has_value && std::isfinite(t.value) ? Json(t.value) : Json()},
              {"values", t.values},
              {"params", params},
              {"user_attrs", attrs},
              {"error", t.error},
              {"started_at", std::isnan(started) ? Json() : Json(started)},
              {"finished_at", std::isnan(finished) ? Json() : Json(finished)},
              {"duration_s",
               std::isnan(started) || std::isnan(finished) ? Json() : Json(finished - started)}};
  if (details) {
    Json steps = Json::array();
    for (const auto& [step, value] : t.intermediate_values) steps.push_back({step, value});
    out["intermediate_values"] = steps;
  }
  return out;
}

}  // namespace

StatusOr<std::string> Dashboard::Studies() {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  Json out = {{"studies", Json::array()}};
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      s->QueryTable(
          "hpo_studies",
          "SELECT s.study_id, s.name, s.direction, s.directions, s.created_at, "
          "COUNT(t.trial_id), COUNT(CASE WHEN t.state = 'complete' THEN 1 END), COUNT(CASE WHEN "
          "t.state = 'pruned' THEN 1 END), "
          "COUNT(CASE WHEN t.state = 'failed' THEN 1 END), COUNT(CASE WHEN t.state = 'running' "
          "THEN 1 END), COUNT(CASE WHEN t.state = 'waiting' THEN 1 END), "
          "CASE WHEN s.direction = 'minimize' THEN MIN(CASE WHEN t.state = 'complete' THEN "
          "t.value END) ELSE MAX(CASE WHEN t.state = 'complete' THEN t.value END) END, "
          "MAX(t.finished_at) FROM hpo_studies s LEFT JOIN hpo_trials t ON t.study_id = "
          "s.study_id GROUP BY s.study_id ORDER BY s.created_at DESC"));
  for (const store::Row& r : rows) {
    Json best = Number(r[11]);
    Json best_trial = nullptr;
    if (!best.is_null()) {
      MLCORE_ASSIGN_OR_RETURN(auto b, s->Query("SELECT number FROM hpo_trials WHERE study_id = ?1 "
                                               "AND state = 'complete' AND value = ?2 ORDER BY "
                                               "number LIMIT 1",
                                               {r[0], r[11]}));
      if (!b.empty()) best_trial = Int(b[0][0]);
    }
    std::string directions = Text(r[3]);
    out["studies"].push_back(
        {{"name", Text(r[1])},
         {"direction", Text(r[2])},
         {"directions", directions.empty() ? Json::array({Text(r[2])}) : ParseJson(directions)},
         {"created_at", Number(r[4])},
         {"trials", Int(r[5])},
         {"complete", Int(r[6])},
         {"pruned", Int(r[7])},
         {"failed", Int(r[8])},
         {"running", Int(r[9])},
         {"waiting", Int(r[10])},
         {"best_value", best},
         {"best_trial", best_trial},
         {"last_finished_at", Number(r[12])}});
  }
  return out.dump();
}

namespace {

StatusOr<int64_t> StudyId(Dashboard::Stores* s, const std::string& study) {
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      s->QueryTable("hpo_studies", "SELECT study_id FROM hpo_studies WHERE name = ?1", {study}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no study '", study, "'"));
  if (s->hpo == nullptr) {
    if (s->db->dialect() == store::SqlDialect::kPostgres) {
      MLCORE_ASSIGN_OR_RETURN(s->hpo, hpo::OpenStorage(s->location));
    } else {
      MLCORE_ASSIGN_OR_RETURN(
          s->hpo, hpo::NewSqliteStorage(std::static_pointer_cast<store::MetadataStore>(s->db)));
    }
  }
  return Int(rows[0][0]);
}

}  // namespace

StatusOr<std::string> Dashboard::Trials(const std::string& study, const TrialQuery& q) {
  static const auto* kSorts = new std::map<std::string, std::string>{
      {"number", "number"},
      {"value", "value IS NULL, value"},
      {"duration", "finished_at IS NULL, finished_at - started_at"},
      {"state", "state"}};
  auto sort = kSorts->find(q.sort);
  if (sort == kSorts->end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown sort '", q.sort, "' (known: number, value, duration, state)"));
  }
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(int64_t study_id, StudyId(s, study));
  std::string order = sort->second;
  if (q.descending) {
    // Descending on every key but the NULLs-last guards.
    order = absl::StrCat(order, " DESC");
    if (q.sort == "value") order = "value IS NULL, value DESC";
    if (q.sort == "duration") order = "finished_at IS NULL, finished_at - started_at DESC";
  }
  MLCORE_ASSIGN_OR_RETURN(
      Stores::Page page,
      s->QueryPage("hpo_trials", "trial_id",
                   "FROM hpo_trials WHERE study_id = ?1 AND (?2 = '' OR state = ?2)",
                   absl::StrCat(order, ", number"), {study_id, q.state}, q.offset, q.limit,
                   options_.max_page_size));
  Json out = {
      {"study", study}, {"total", page.total}, {"offset", q.offset}, {"trials", Json::array()}};
  for (const store::Row& r : page.rows) {
    StatusOr<hpo::FrozenTrial> t = s->hpo->GetTrial(Int(r[0]));
    if (!t.ok()) return internal::Friendly(t.status());
    out["trials"].push_back(TrialJson(*t, false));
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::StudyPlots(const std::string& study) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(int64_t study_id, StudyId(s, study));
  MLCORE_ASSIGN_OR_RETURN(hpo::StudyRecord record, s->hpo->LoadStudy(study));
  StatusOr<hpo::TrialList> all = s->hpo->GetTrials(study_id);
  if (!all.ok()) return internal::Friendly(all.status());
  const bool minimize = record.direction == hpo::StudyDirection::kMinimize;
  std::vector<const hpo::FrozenTrial*> complete;
  for (const auto& t : *all) {
    if (t->state == hpo::TrialState::kComplete && t->has_value && std::isfinite(t->value)) {
      complete.push_back(t.get());
    }
  }
  // History: every complete trial's value and the best so far, thinned evenly to ~2000 points
  // (the best-so-far line keeps every improvement).
  Json history = Json::array();
  const size_t stride = std::max<size_t>(1, complete.size() / 2000);
  double best = minimize ? INFINITY : -INFINITY;
  for (size_t i = 0; i < complete.size(); ++i) {
    double v = complete[i]->value;
    bool improved = hpo::IsBetter(record.direction, v, best);
    if (improved) best = v;
    if (i % stride == 0 || improved || i + 1 == complete.size()) {
      history.push_back({complete[i]->number, v, best});
    }
  }
  // Parallel coordinates: the most recent 1000 complete trials.
  Json names = Json::array();
  std::map<std::string, bool> numeric;
  for (const hpo::FrozenTrial* t : complete) {
    for (const auto& [name, value] : t->params) {
      bool is_number =
          std::holds_alternative<int64_t>(value) || std::holds_alternative<double>(value);
      auto [it, added] = numeric.emplace(name, is_number);
      if (!added) it->second = it->second && is_number;
    }
  }
  for (const auto& [name, is_number] : numeric) {
    names.push_back({{"name", name}, {"numeric", is_number}});
  }
  Json lines = Json::array();
  size_t first = complete.size() > 1000 ? complete.size() - 1000 : 0;
  for (size_t i = first; i < complete.size(); ++i) {
    Json params = Json::object();
    for (const auto& [name, value] : complete[i]->params) params[name] = ParamJson(value);
    lines.push_back(
        {{"number", complete[i]->number}, {"value", complete[i]->value}, {"params", params}});
  }
  std::vector<hpo::FrozenTrial> frozen;
  frozen.reserve(complete.size());
  for (const hpo::FrozenTrial* t : complete) frozen.push_back(*t);
  Json importance = Json::array();
  if (auto imp = hpo::ParamImportances(frozen); imp.ok()) {
    for (const auto& [name, value] : *imp)
      importance.push_back({{"name", name}, {"importance", value}});
  }
  Json out = {{"study", study},
              {"direction", minimize ? "minimize" : "maximize"},
              {"history", history},
              {"parallel", {{"params", names}, {"trials", lines}}},
              {"importance", importance}};
  return out.dump();
}

StatusOr<hpo::FrozenTrial> Dashboard::LoadTrial(const std::string& study, int64_t number) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(int64_t study_id, StudyId(s, study));
  MLCORE_ASSIGN_OR_RETURN(auto rows, s->Query("SELECT trial_id FROM hpo_trials WHERE study_id = "
                                              "?1 AND number = ?2",
                                              {study_id, number}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("study '", study, "' has no trial ", number));
  }
  StatusOr<hpo::FrozenTrial> t = s->hpo->GetTrial(Int(rows[0][0]));
  if (!t.ok()) return internal::Friendly(t.status());
  return t;
}

namespace {

// The tail of a trial's log, "" when it kept none. Only files inside the home are read: the
// paths are user attributes, which any objective can set, and the dashboard must not become a
// reader of any file this process can open.
StatusOr<std::string> TrialLogText(const hpo::FrozenTrial& trial, const std::string& home,
                                   const std::string& stream, int64_t max_bytes) {
  auto it = trial.user_attrs.find(absl::StrCat(stream, "_path"));
  Json path = it == trial.user_attrs.end() ? Json() : ParseJson(it->second);
  if (!path.is_string()) return std::string();
  StatusOr<std::string> real = internal::RealPath(path.get<std::string>());
  if (!real.ok()) return std::string();  // not written yet, or removed
  StatusOr<std::string> root = internal::RealPath(home);
  if (!root.ok() || !absl::StartsWith(*real, *root + "/")) {
    return absl::PermissionDeniedError(absl::StrCat("the trial's ", stream, " log ",
                                                    path.get<std::string>(),
                                                    " is outside the dashboard's home ", home));
  }
  StatusOr<std::string> text = hpo::ReadLogTail(*real, max_bytes);
  if (absl::IsNotFound(text.status())) return std::string();
  return text;
}

}  // namespace

StatusOr<std::string> Dashboard::Trial(const std::string& study, int64_t number) {
  MLCORE_ASSIGN_OR_RETURN(hpo::FrozenTrial trial, LoadTrial(study, number));
  Json out = TrialJson(trial, true);
  out["study"] = study;
  // A pipeline_objective trial ran as a pipeline run whose tasks are processes: their logs are
  // the run's tasks' logs, one link away.
  auto run = trial.user_attrs.find("pipeline_run_id");
  out["run_id"] = run == trial.user_attrs.end() ? Json() : ParseJson(run->second);
  // Command trials name their log files in user attributes (hpo/trial_log.h).
  for (const char* stream : {"stdout", "stderr"}) {
    StatusOr<std::string> text = TrialLogText(trial, home_, stream, 64 << 10);
    out[stream] = text.ok() ? *text : absl::StrCat("(", text.status().message(), ")");
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::TrialLog(const std::string& study, int64_t number,
                                          const std::string& stream, int64_t max_bytes) {
  if (stream != "stdout" && stream != "stderr") {
    return absl::InvalidArgumentError("stream must be 'stdout' or 'stderr'");
  }
  MLCORE_ASSIGN_OR_RETURN(hpo::FrozenTrial trial, LoadTrial(study, number));
  return TrialLogText(trial, home_, stream, max_bytes);
}

}  // namespace mlcore::ui

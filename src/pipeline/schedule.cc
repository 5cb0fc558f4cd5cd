#include "mlcore/pipeline/schedule.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "pipeline/records.h"
#include "pipeline/schedule_rows.h"

namespace mlcore::pipeline {

using internal::ToSeconds;
using internal::ValueInt;
using internal::ValueText;
using ::mlcore::internal::AV;

StatusOr<CatchUp> ParseCatchUp(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(AV(name));
  if (lower == "skip") return CatchUp::kSkip;
  if (lower == "once") return CatchUp::kOnce;
  if (lower == "all") return CatchUp::kAll;
  return absl::InvalidArgumentError(
      absl::StrCat("catch-up policy '", AV(name), "' is not one of skip, once, all"));
}

const char* CatchUpName(CatchUp catchup) {
  switch (catchup) {
    case CatchUp::kSkip:
      return "skip";
    case CatchUp::kOnce:
      return "once";
    case CatchUp::kAll:
      return "all";
  }
  return "skip";
}

namespace {

Status ValidateOptions(const ScheduleOptions& o) {
  for (char c : o.name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("schedule name '", o.name, "': use letters, digits, '-', '_' and '.' only"));
    }
  }
  if (o.kind != pipeline_kind::kPython && o.kind != pipeline_kind::kRegistered) {
    return absl::InvalidArgumentError(absl::StrCat("schedule '", o.name, "': pipeline kind '",
                                                   o.kind, "' is not 'python' or 'registered'"));
  }
  if (o.pipeline.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("schedule '", o.name, "': no pipeline given"));
  }
  if (o.kind == pipeline_kind::kPython && o.pipeline.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("schedule '", o.name, "': pipeline '",
                                                   o.pipeline, "' is not a module:function path"));
  }
  if (!o.arguments.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule '", o.name, "': arguments must be a JSON object"));
  }
  if (o.max_concurrency < 0) {
    return absl::InvalidArgumentError(absl::StrCat("schedule '", o.name, "': max_concurrency ",
                                                   o.max_concurrency, " is negative"));
  }
  if (o.max_catchup < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule '", o.name, "': max_catchup ", o.max_catchup, " is below 1"));
  }
  if (o.experiment.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("schedule '", o.name, "': empty experiment"));
  }
  return CronSchedule::Parse(o.cron, o.time_zone).status();
}

}  // namespace

StatusOr<std::unique_ptr<Schedules>> Schedules::Open(Client* client) {
  store::SqlDatabase& db = client->metadata();
  MLCORE_RETURN_IF_ERROR(store::MigrateModule(db, "pipeline_schedule", ScheduleMigrations(),
                                              PostgresScheduleMigrations()));
  return std::unique_ptr<Schedules>(new Schedules(client));
}

StatusOr<Schedule> Schedules::Create(const ScheduleOptions& options, absl::Time now) {
  ScheduleOptions o = options;
  if (o.name.empty()) {
    std::string base = o.pipeline.substr(o.pipeline.rfind(':') + 1);
    for (char& c : base) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '-';
    }
    o.name = absl::StrCat(base.empty() ? "schedule" : base, "-", internal::NewRunId().substr(0, 8));
  }
  MLCORE_RETURN_IF_ERROR(ValidateOptions(o));
  std::string id = internal::NewRunId();
  const double t = ToSeconds(now);
  const double watermark = ToSeconds(o.start_after.value_or(now));
  store::SqlDatabase& db = client_->metadata();
  Status s = db.Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(auto taken,
                            db.Query("SELECT 1 FROM pipeline_schedules WHERE namespace = ?1 AND "
                                     "name = ?2",
                                     {client_->options().ns, o.name}));
    if (!taken.empty()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "schedule '", o.name, "' already exists in namespace '", client_->options().ns, "'"));
    }
    return db
        .Query(absl::StrCat("INSERT INTO pipeline_schedules(", internal::kScheduleInsertColumns,
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13, "
                            "NULL, ?14, ?14)"),
               {id, client_->options().ns, o.name, o.kind, o.pipeline, o.arguments.dump(), o.cron,
                o.time_zone, o.experiment, int64_t{o.max_concurrency},
                std::string(CatchUpName(o.catchup)), int64_t{o.max_catchup}, watermark, t})
        .status();
  });
  MLCORE_RETURN_IF_ERROR(s);
  return Get(id);
}

StatusOr<Schedule> Schedules::Get(std::string_view id_or_name) {
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      client_->metadata().Query(absl::StrCat(internal::kScheduleSelect,
                                             "WHERE namespace = ?1 AND (id = ?2 OR name = ?2)"),
                                {client_->options().ns, std::string(id_or_name)}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no schedule '", AV(id_or_name), "' in namespace '",
                                            client_->options().ns, "'"));
  }
  return internal::ToSchedule(rows[0]);
}

StatusOr<std::vector<Schedule>> Schedules::List() {
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      client_->metadata().Query(
          absl::StrCat(internal::kScheduleSelect, "WHERE namespace = ?1 ORDER BY created_at, name"),
          {client_->options().ns}));
  std::vector<Schedule> out;
  for (const auto& r : rows) out.push_back(internal::ToSchedule(r));
  return out;
}

Status Schedules::Pause(std::string_view id_or_name, absl::Time now) {
  MLCORE_ASSIGN_OR_RETURN(Schedule s, Get(id_or_name));
  return client_->metadata()
      .Query("UPDATE pipeline_schedules SET enabled = 0, updated_at = ?2 WHERE id = ?1",
             {s.id, ToSeconds(now)})
      .status();
}

Status Schedules::Resume(std::string_view id_or_name, absl::Time now) {
  MLCORE_ASSIGN_OR_RETURN(Schedule s, Get(id_or_name));
  if (s.enabled) return absl::OkStatus();
  return client_->metadata()
      .Query(
          "UPDATE pipeline_schedules SET enabled = 1, watermark = CASE WHEN watermark > ?2 THEN "
          "watermark ELSE ?2 END, "
          "updated_at = ?2 WHERE id = ?1",
          {s.id, ToSeconds(now)})
      .status();
}

Status Schedules::Delete(std::string_view id_or_name) {
  MLCORE_ASSIGN_OR_RETURN(Schedule s, Get(id_or_name));
  store::SqlDatabase& db = client_->metadata();
  return db.Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(
        db.Query("DELETE FROM pipeline_schedule_fires WHERE schedule_id = ?1", {s.id}).status());
    return db.Query("DELETE FROM pipeline_schedules WHERE id = ?1", {s.id}).status();
  });
}

StatusOr<std::vector<ScheduleFire>> Schedules::Fires(std::string_view id_or_name, int limit) {
  MLCORE_ASSIGN_OR_RETURN(Schedule s, Get(id_or_name));
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      client_->metadata().Query(
          "SELECT schedule_id, scheduled_time, state, run_id, error, fired_at, attempts, retry_at, "
          "lease_owner, lease_until FROM pipeline_schedule_fires WHERE schedule_id = ?1 ORDER BY "
          "scheduled_time DESC "
          "LIMIT ?2",
          {s.id, int64_t{limit}}));
  std::vector<ScheduleFire> out;
  for (const auto& r : rows) out.push_back(internal::ToFire(r));
  return out;
}

StatusOr<std::vector<absl::Time>> Schedules::NextTimes(std::string_view id_or_name, int n,
                                                       absl::Time now) {
  MLCORE_ASSIGN_OR_RETURN(Schedule s, Get(id_or_name));
  MLCORE_ASSIGN_OR_RETURN(CronSchedule cron,
                          CronSchedule::Parse(s.options.cron, s.options.time_zone));
  return cron.NextTimes(std::max(s.watermark, now), n);
}

namespace {
struct Registry {
  std::mutex mu;
  std::map<std::string, PipelineFactory> factories;
};
Registry& Pipelines() {
  static auto* registry = new Registry;
  return *registry;
}
}  // namespace

Status RegisterPipeline(std::string name, PipelineFactory factory) {
  Registry& r = Pipelines();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.factories.emplace(name, std::move(factory)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("a pipeline named '", name, "' is already registered for schedules"));
  }
  return absl::OkStatus();
}

Launcher RegisteredPipelineLauncher(Client* client) {
  return [client](const Schedule& schedule, absl::Time) -> StatusOr<std::string> {
    PipelineFactory factory;
    {
      Registry& r = Pipelines();
      std::lock_guard<std::mutex> lock(r.mu);
      auto it = r.factories.find(schedule.options.pipeline);
      if (it == r.factories.end()) {
        return absl::NotFoundError(absl::StrCat("schedule '", schedule.options.name,
                                                "': no pipeline registered as '",
                                                schedule.options.pipeline, "' in this process"));
      }
      factory = it->second;
    }
    MLCORE_ASSIGN_OR_RETURN(Pipeline p, factory());
    RunOptions run;
    run.experiment = schedule.options.experiment;
    run.arguments = schedule.options.arguments;
    MLCORE_ASSIGN_OR_RETURN(auto handle, client->Start(p, run));
    return handle->id();
  };
}

}  // namespace mlcore::pipeline

#include "mlcore/pipeline/client.h"

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/core/logging.h"
#include "pipeline/executor.h"
#include "pipeline/final_record.h"
#include "pipeline/records.h"
#include "pipeline/run_heartbeat.h"
#include "store/module_home.h"

namespace mlcore::pipeline {

using internal::OptionalTime;
using internal::ParseJsonOr;
using internal::ValueInt;
using internal::ValueText;

namespace {

// Runs started by Clients of this process, so a Client's destructor can wait for its own.
struct ActiveRuns {
  std::mutex mu;
  std::vector<std::shared_ptr<internal::RunState>> runs;
};

ActiveRuns& Active() {
  static auto* active = new ActiveRuns;
  return *active;
}

constexpr char kRunColumns[] =
    "SELECT r.id, r.namespace, p.name, v.digest, e.name, r.state, r.arguments, r.outputs, "
    "r.error, r.created_at, r.finished_at FROM pipeline_runs r "
    "JOIN pipeline_versions v ON v.id = r.version_id "
    "JOIN pipeline_pipelines p ON p.id = v.pipeline_id "
    "JOIN pipeline_experiments e ON e.id = r.experiment_id ";

RunRecord ToRunRecord(const store::Row& r) {
  RunRecord rec;
  rec.id = ValueText(r[0]);
  rec.ns = ValueText(r[1]);
  rec.pipeline = ValueText(r[2]);
  rec.pipeline_digest = ValueText(r[3]);
  rec.experiment = ValueText(r[4]);
  rec.state = ValueText(r[5]);
  rec.arguments = ParseJsonOr(ValueText(r[6]), Json::object());
  rec.outputs = ParseJsonOr(ValueText(r[7]), Json::object());
  rec.error = ValueText(r[8]);
  rec.created_at = OptionalTime(r[9]).value_or(absl::UnixEpoch());
  rec.finished_at = OptionalTime(r[10]);
  return rec;
}

constexpr char kArtifactColumns[] =
    "SELECT id, run_id, task, output, type, sha256, uri, metadata FROM pipeline_artifacts ";

ArtifactRecord ToArtifactRecord(const store::Row& r) {
  return {.id = ValueInt(r[0]),
          .run_id = ValueText(r[1]),
          .task = ValueText(r[2]),
          .output = ValueText(r[3]),
          .type = ValueText(r[4]),
          .digest = ValueText(r[5]),
          .uri = ValueText(r[6]),
          .metadata = ParseJsonOr(ValueText(r[7]), Json::object())};
}

}  // namespace

Client::Client(ClientOptions options, std::string home,
               std::shared_ptr<store::SqlDatabase> metadata,
               std::unique_ptr<store::ArtifactStore> artifacts)
    : options_(std::move(options)),
      home_(std::move(home)),
      metadata_(std::move(metadata)),
      artifacts_(std::move(artifacts)),
      unrecorded_(std::make_unique<internal::UnrecordedRuns>()) {}

Client::~Client() {
  // Runs hold a pointer to this client: wait for them rather than leave them dangling.
  std::vector<std::shared_ptr<internal::RunState>> mine;
  {
    ActiveRuns& a = Active();
    std::lock_guard<std::mutex> lock(a.mu);
    for (auto it = a.runs.begin(); it != a.runs.end();) {
      if ((*it)->client() == this) {
        mine.push_back(*it);
        it = a.runs.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : mine) (void)r->Wait(absl::InfiniteDuration());
  // Last chance in this process; what is still refused is recorded from its outcome file by the
  // next process that recovers the run.
  if (Status st = WriteUnrecorded(); !st.ok()) {
    MLCORE_LOG(Error) << "closing the pipeline client: " << StatusText(st);
  }
}

bool Client::HasRunsInFlight() const {
  ActiveRuns& a = Active();
  std::lock_guard<std::mutex> lock(a.mu);
  for (const auto& r : a.runs) {
    if (r->client() == this && !r->done()) return true;
  }
  return false;
}

Status Client::WriteUnrecorded() {
  // Taken out while the store is written, so that a run ending meanwhile need not wait for it.
  std::vector<internal::FinalRecord> pending;
  {
    std::lock_guard<std::mutex> lock(unrecorded_->mu);
    pending.swap(unrecorded_->runs);
  }
  Status first;
  std::vector<internal::FinalRecord> refused;
  for (internal::FinalRecord& record : pending) {
    Status st = internal::WriteFinalRecord(
        *metadata_, record, "recorded late: the store refused this record when the run ended");
    if (st.ok()) {
      std::error_code ec;
      std::filesystem::remove(internal::OutcomePath(home_, record.run_id), ec);
      continue;
    }
    if (first.ok()) {
      first = absl::Status(st.code(), absl::StrCat("writing the final record of run '",
                                                   record.run_id, "' again: ", st.message()));
    }
    refused.push_back(std::move(record));
  }
  std::lock_guard<std::mutex> lock(unrecorded_->mu);
  unrecorded_->runs.insert(unrecorded_->runs.begin(), std::make_move_iterator(refused.begin()),
                           std::make_move_iterator(refused.end()));
  return first;
}

StatusOr<std::unique_ptr<Client>> Client::Open(const ClientOptions& options) {
  if (options.ns.empty()) return absl::InvalidArgumentError("the namespace must not be empty");
  store::ModuleHomeOptions mo = store::ModuleHomeOptionsOf(
      options, "pipeline", PipelineMigrations(), PostgresPipelineMigrations());
  mo.remote_artifacts = options.artifacts;
  MLCORE_ASSIGN_OR_RETURN(store::ModuleHome opened, store::OpenModuleHome(options.home, mo));
  std::unique_ptr<Client> client(
      new Client(options, opened.files_home, std::move(opened.db), std::move(opened.artifacts)));
  MLCORE_RETURN_IF_ERROR(client->RecoverInterrupted().status());
  return client;
}

StatusOr<int> Client::RecoverInterrupted() {
  MLCORE_RETURN_IF_ERROR(WriteUnrecorded());
  int count = 0;
  std::vector<std::string> recorded;  // outcome files written to the store
  MLCORE_RETURN_IF_ERROR(metadata_->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(
        auto rows, metadata_->Query(
                       absl::StrCat("SELECT id, owner_host, owner_pid, owner_start, "
                                    "heartbeat_at, ",
                                    internal::StoreNowSql(metadata_->dialect()),
                                    " FROM pipeline_runs WHERE state IN ('running', 'pending')")));
    const double now = internal::ToSeconds(absl::Now());
    for (const auto& r : rows) {
      internal::ProcessIdentity owner{ValueText(r[1]), ValueInt(r[2]), ValueText(r[3])};
      std::optional<std::string> gone =
          internal::OwnerGone(owner, OptionalTime(r[4]), OptionalTime(r[5]).value_or(absl::Now()),
                              options_.run_heartbeat_timeout);
      if (!gone.has_value()) continue;
      const std::string outcome_path = internal::OutcomePath(home_, ValueText(r[0]));
      std::string why = absl::StrCat("interrupted: ", *gone);
      if (auto outcome = internal::LoadOutcome(outcome_path);
          outcome.has_value() && outcome->run_id == ValueText(r[0])) {
        // It finished, but the store refused its final record: record the outcome it left.
        MLCORE_RETURN_IF_ERROR(internal::WriteFinalRecord(
            *metadata_, *outcome,
            absl::StrCat("recorded late from ", outcome_path,
                         ": the store refused this record when the run ended in pid ", owner.pid,
                         " on ", owner.host)));
        recorded.push_back(outcome_path);
      } else {
        MLCORE_RETURN_IF_ERROR(metadata_
                                   ->Query("UPDATE pipeline_runs SET state = 'interrupted', "
                                           "error = ?2, finished_at = ?3 WHERE id = ?1",
                                           {r[0], why, now})
                                   .status());
      }
      MLCORE_RETURN_IF_ERROR(metadata_
                                 ->Query("UPDATE pipeline_tasks SET state = 'interrupted', "
                                         "error = ?2, finished_at = ?3 WHERE run_id = ?1 AND "
                                         "state = 'running'",
                                         {r[0], why, now})
                                 .status());
      ++count;
    }
    return absl::OkStatus();
  }));
  for (const std::string& path : recorded) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  if (count > 0) {
    MLCORE_LOG(Info) << "ended " << count << " pipeline run(s) whose process was gone";
  }
  return count;
}

StatusOr<std::shared_ptr<RunHandle>> Client::Start(const Pipeline& pipeline,
                                                   const RunOptions& options) {
  if (pipeline.tasks().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", pipeline.name(), "' has no tasks"));
  }
  // Checked before anything is recorded: a negative limit used to record a succeeded run whose
  // task stayed pending for ever.
  if (options.max_parallelism < 0 || !(options.cpu_slots >= 0) || options.gpu_slots < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("run options of pipeline '", pipeline.name(), "': max_parallelism (",
                     options.max_parallelism, ") and cpu_slots (", options.cpu_slots,
                     ") must be >= 0 (0: the default), gpu_slots (", options.gpu_slots,
                     ") >= -1 (-1: every CUDA device)"));
  }
  auto run = std::make_shared<internal::RunState>(this, pipeline, options);
  MLCORE_RETURN_IF_ERROR(run->Prepare());
  {
    ActiveRuns& a = Active();
    std::lock_guard<std::mutex> lock(a.mu);
    // Finished runs are dropped here, so the list stays as long as the runs in flight.
    std::erase_if(a.runs, [](const auto& r) { return r->done(); });
    a.runs.push_back(run);
  }
  run->Launch();
  return std::static_pointer_cast<RunHandle>(run);
}

StatusOr<RunRecord> Client::Run(const Pipeline& pipeline, const RunOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(auto handle, Start(pipeline, options));
  return handle->Wait();
}

StatusOr<RunRecord> Client::GetRun(std::string_view run_id) {
  MLCORE_ASSIGN_OR_RETURN(auto rows, metadata_->Query(std::string(kRunColumns) + "WHERE r.id = ?1",
                                                      {std::string(run_id)}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no pipeline run '", std::string(run_id), "'"));
  }
  return ToRunRecord(rows[0]);
}

StatusOr<std::string> Client::GetRunSpec(std::string_view run_id) {
  MLCORE_ASSIGN_OR_RETURN(auto rows, metadata_->Query("SELECT v.spec FROM pipeline_runs r JOIN "
                                                      "pipeline_versions v ON v.id = r.version_id "
                                                      "WHERE r.id = ?1",
                                                      {std::string(run_id)}));
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no pipeline run '", std::string(run_id), "'"));
  }
  return ValueText(rows[0][0]);
}

StatusOr<std::string> Client::ResolveRunId(std::string_view id_or_prefix) {
  const std::string prefix(id_or_prefix);
  if (prefix.empty()) return absl::InvalidArgumentError("run id: empty");
  // A run id is hex; anything else cannot match and must not reach LIKE as a pattern.
  if (prefix.find_first_not_of("0123456789abcdefABCDEF-") != std::string::npos) {
    return absl::NotFoundError(absl::StrCat("no pipeline run '", prefix, "'"));
  }
  MLCORE_ASSIGN_OR_RETURN(auto rows,
                          metadata_->Query("SELECT id FROM pipeline_runs WHERE "
                                           "namespace = ?1 AND substr(id, 1, ?2) = ?3 "
                                           "ORDER BY created_at LIMIT 6",
                                           {options_.ns, int64_t(prefix.size()), prefix}));
  for (const auto& r : rows) {
    if (ValueText(r[0]) == prefix) return prefix;
  }
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no pipeline run '", prefix, "'"));
  if (rows.size() == 1) return ValueText(rows[0][0]);
  std::vector<std::string> ids;
  for (size_t i = 0; i < std::min<size_t>(rows.size(), 5); ++i)
    ids.push_back(ValueText(rows[i][0]));
  return absl::InvalidArgumentError(
      absl::StrCat("run id prefix '", prefix, "' is ambiguous: it matches ",
                   rows.size() > 5 ? "more than 5 runs" : absl::StrCat(rows.size(), " runs"), " (",
                   absl::StrJoin(ids, ", "), rows.size() > 5 ? ", ..." : "", ")"));
}

StatusOr<std::vector<RunRecord>> Client::ListRuns(const RunFilter& f) {
  static constexpr const char* kRunStates[] = {state::kPending, state::kRunning, state::kSucceeded,
                                               state::kFailed, state::kInterrupted};
  if (!f.state.empty() &&
      std::find(std::begin(kRunStates), std::end(kRunStates), f.state) == std::end(kRunStates)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown run state '", f.state, "' (known: ", absl::StrJoin(kRunStates, ", "), ")"));
  }
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      metadata_->Query(std::string(kRunColumns) +
                           "WHERE r.namespace = ?1 AND (?2 = '' OR e.name = ?2) AND "
                           "(?3 = '' OR p.name = ?3) AND (?4 = '' OR r.state = ?4) " +
                           (f.newest_first ? "ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?5"
                                           : "ORDER BY r.created_at, r.rowid LIMIT ?5"),
                       {options_.ns, f.experiment, f.pipeline, f.state, int64_t{f.limit}}));
  std::vector<RunRecord> out;
  for (const auto& r : rows) out.push_back(ToRunRecord(r));
  return out;
}

StatusOr<std::vector<TaskRecord>> Client::ListTasks(std::string_view run_id) {
  MLCORE_ASSIGN_OR_RETURN(
      auto rows,
      metadata_->Query("SELECT run_id, name, component, state, attempts, cache_key, outputs, "
                       "error, stdout_path, stderr_path, started_at, finished_at FROM "
                       "pipeline_tasks WHERE run_id = ?1 ORDER BY rowid",
                       {std::string(run_id)}));
  if (rows.empty()) MLCORE_RETURN_IF_ERROR(GetRun(run_id).status());
  std::vector<TaskRecord> out;
  for (const auto& r : rows) {
    TaskRecord t;
    t.run_id = ValueText(r[0]);
    t.name = ValueText(r[1]);
    t.component = ValueText(r[2]);
    t.state = ValueText(r[3]);
    t.attempts = static_cast<int>(ValueInt(r[4]));
    t.cache_key = ValueText(r[5]);
    t.outputs = ParseJsonOr(ValueText(r[6]), Json::object());
    t.error = ValueText(r[7]);
    t.stdout_path = ValueText(r[8]);
    t.stderr_path = ValueText(r[9]);
    t.started_at = OptionalTime(r[10]);
    t.finished_at = OptionalTime(r[11]);
    out.push_back(std::move(t));
  }
  return out;
}

StatusOr<std::vector<ArtifactRecord>> Client::ListArtifacts(std::string_view run_id) {
  MLCORE_ASSIGN_OR_RETURN(
      auto rows, metadata_->Query(std::string(kArtifactColumns) + "WHERE run_id = ?1 ORDER BY id",
                                  {std::string(run_id)}));
  std::vector<ArtifactRecord> out;
  for (const auto& r : rows) out.push_back(ToArtifactRecord(r));
  return out;
}

StatusOr<ArtifactRecord> Client::GetArtifact(int64_t artifact_id) {
  MLCORE_ASSIGN_OR_RETURN(
      auto rows, metadata_->Query(std::string(kArtifactColumns) + "WHERE id = ?1", {artifact_id}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no pipeline artifact ", artifact_id));
  return ToArtifactRecord(rows[0]);
}

StatusOr<std::vector<Consumer>> Client::ArtifactConsumers(int64_t artifact_id) {
  MLCORE_ASSIGN_OR_RETURN(auto rows,
                          metadata_->Query("SELECT run_id, task, input FROM pipeline_lineage "
                                           "WHERE artifact_id = ?1 ORDER BY rowid",
                                           {artifact_id}));
  std::vector<Consumer> out;
  for (const auto& r : rows) out.push_back({ValueText(r[0]), ValueText(r[1]), ValueText(r[2])});
  return out;
}

}  // namespace mlcore::pipeline

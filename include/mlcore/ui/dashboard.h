// The dashboard: one place for a home's pipeline runs, HPO studies, training curves, registered
// models, model servers and devices. Each page's data is a call here returning JSON text, so C++
// programs, Python and the HTTP pages (HandleHttp, mounted at /ui by `mlcore ui` or by any
// server through MountDashboard) read the same answers.
//   auto dash = mlcore::ui::Dashboard::Open({.home = "/data/mlcore"});
//   std::string runs = (*dash)->Runs({.state = "failed", .limit = 20}).value();
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/trial.h"
#include "mlcore/serve/server.h"

namespace mlcore::ui {

struct DashboardOptions {
  // The store's directory (mlcore.db, artifacts/). Empty: $MLCORE_HOME, else ~/.mlcore.
  std::string home;
  // Non-empty: POST calls (promoting an alias) need "Authorization: Bearer <token>", compared in
  // constant time. Empty: the dashboard is read-only.
  std::string token;
  // Where training runs' TensorBoard event files are looked for: each directory below one of
  // these that holds events.out.tfevents.* files is a training run. Empty: <home>/logs.
  std::vector<std::string> log_dirs;
  // Serve the pages from this directory instead of the copies built into the library (for
  // editing them without a rebuild). Empty: the built-in copies.
  std::string static_dir;
  // How long a read waits for a writer's lock (a checkpoint, a migration) before the call
  // answers Unavailable ("busy, retry"). Longer hides more contention and holds an HTTP thread.
  absl::Duration busy_timeout = absl::Seconds(5);
  // The largest page any list call returns; larger `limit`s are cut to it.
  int64_t max_page_size = 500;
};

// Filters and paging of Runs. Rows come newest first.
struct RunQuery {
  std::string state;           // "" or a run state ("running", "succeeded", "failed", ...)
  std::string experiment;      // "" or an experiment name
  std::string pipeline;        // "" or a pipeline name
  double min_duration_s = -1;  // < 0: no bound; a running run's duration is up to now
  double max_duration_s = -1;
  int64_t offset = 0;
  int64_t limit = 50;
};

// Sorting, filtering and paging of a study's trials.
struct TrialQuery {
  std::string state;            // "" or "complete", "pruned", "failed", "running", "waiting"
  std::string sort = "number";  // "number", "value", "duration", "state"
  bool descending = false;
  int64_t offset = 0;
  int64_t limit = 50;
};

// One HTTP exchange, apart from the sockets (the serve mount's request and reply).
using HttpRequest = serve::HttpMountRequest;
using HttpReply = serve::HttpMountReply;

class Dashboard {
 public:
  // Never fails for a missing or damaged store: calls then answer the store's error
  // (FailedPrecondition naming the missing file; DataLoss for damage) and the pages say it,
  // until the store appears.
  static StatusOr<std::unique_ptr<Dashboard>> Open(DashboardOptions options = {});
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // JSON answers. NotFound for an unknown id or name; InvalidArgument for a bad query;
  // Unavailable when the store stayed busy past busy_timeout.
  // Pipeline runs: {"total", "offset", "runs": [{id, pipeline, experiment, state, ...}]}.
  StatusOr<std::string> Runs(const RunQuery& query);
  // One run: arguments, outputs, and each task's state, attempts (retries), cache hit, inputs
  // (artifacts used) and outputs (artifacts made).
  StatusOr<std::string> Run(const std::string& run_id);
  // The run's DAG as SVG with each task's current state (pipeline::DagSvg).
  StatusOr<std::string> RunDag(const std::string& run_id);
  // The last `max_bytes` of a task's stdout or stderr ("stdout" or "stderr") as text.
  StatusOr<std::string> TaskLog(const std::string& run_id, const std::string& task,
                                const std::string& stream, int64_t max_bytes = 1 << 20);
  // Artifacts newest first, paged: {"total", "artifacts": [...]}.
  StatusOr<std::string> Artifacts(int64_t offset, int64_t limit);
  // One artifact with its lineage: the run and task that made it, the runs and tasks that read
  // it, the registered model versions made from it, and its files when it is a directory.
  StatusOr<std::string> Artifact(int64_t artifact_id);
  // The bytes of an artifact, or of the file `path` inside a directory artifact. `path` must be
  // relative, without "." or ".." segments, and resolve inside the artifact store (a symlink out
  // is refused): InvalidArgument or PermissionDenied otherwise. Sets *name to a file name.
  StatusOr<std::string> ArtifactBytes(int64_t artifact_id, const std::string& path,
                                      std::string* name);
  // Recurring runs with their cron, last fire and next fire time.
  StatusOr<std::string> Schedules();

  // HPO studies with direction, trial counts by state and best value.
  StatusOr<std::string> Studies();
  // A study's trials, paged: number, state, value(s), params, duration, user attributes.
  StatusOr<std::string> Trials(const std::string& study, const TrialQuery& query);
  // Plot data: optimization history (value and best so far by trial number, at most ~2000
  // points), parallel coordinates (params and value of up to 1000 complete trials), and
  // parameter importance.
  StatusOr<std::string> StudyPlots(const std::string& study);
  // One trial: params, values, intermediate values, user attributes, and the last 64 KiB of its
  // logs when it ran as a command (user attributes "stdout_path"/"stderr_path", hpo/trial_log.h;
  // only files inside the home are read).
  StatusOr<std::string> Trial(const std::string& study, int64_t number);
  // The last `max_bytes` of a trial's "stdout" or "stderr" log as text ("" when it kept none).
  // PermissionDenied for a log path outside the home.
  StatusOr<std::string> TrialLog(const std::string& study, int64_t number,
                                 const std::string& stream, int64_t max_bytes = 1 << 20);

  // Training runs found under log_dirs: name, directory, last step, last write time.
  StatusOr<std::string> TrainingRuns();
  // Curves of one training run: {"series": {"train/epoch_loss": [[step, value, wall], ...]}},
  // only points with step > after_step (so a page polling a live fit fetches what is new).
  StatusOr<std::string> TrainingCurves(const std::string& name, int64_t after_step = -1);

  // Registered models with versions, aliases, metrics and lineage (run/task or study/trial).
  StatusOr<std::string> Models();
  StatusOr<std::string> Model(const std::string& name);
  // Points `alias` of `model` at `version`. PermissionDenied when `token` does not match the
  // dashboard's (or the dashboard has none: it is read-only).
  Status PromoteAlias(const std::string& token, const std::string& model, const std::string& alias,
                      int64_t version);

  // Model servers that recorded themselves in this home (ServerOptions::record_home): status,
  // url, age, and per model its version, backend, protocol, source, request rate and latency.
  StatusOr<std::string> Servers();
  // Devices (GPUs with memory used and free, or why there is none), CPU slots, and what holds
  // them: running trials and tasks, served model instances.
  StatusOr<std::string> Resources();

  // Answers one request under `prefix` ("/ui"): pages, /api/... JSON, errors as a JSON
  // {"error"} or a short HTML page for browsers.
  HttpReply HandleHttp(const HttpRequest& request, const std::string& prefix = "/ui");

  const DashboardOptions& options() const { return options_; }
  const std::string& home() const { return home_; }

  struct Stores;
  struct EventCache;

 private:
  Dashboard(DashboardOptions options, std::string home);
  // Opens the store when it was not yet open (it may appear after the dashboard starts).
  StatusOr<Stores*> OpenStores();
  StatusOr<hpo::FrozenTrial> LoadTrial(const std::string& study, int64_t number);

  DashboardOptions options_;
  std::string home_;
  std::mutex mu_;  // one call at a time on the store connections
  std::unique_ptr<Stores> stores_;
  std::mutex events_mu_;  // training curves read files only, never the store
  std::unique_ptr<EventCache> events_;
};

// A mount that serves `dashboard` at `prefix` on a serve::Server's HTTP front end.
serve::HttpMount MountDashboard(std::shared_ptr<Dashboard> dashboard,
                                const std::string& prefix = "/ui");
// Opens the dashboard of `home` and mounts it at "/ui" on the server `options` is for, with the
// server's auth_token as the dashboard's token (read-only without one): mlcore-server's
// --ui-home and Python's Server(ui_home=...). Fails only as Dashboard::Open does.
Status MountDashboardOf(const std::string& home, serve::ServerOptions& options);

}  // namespace mlcore::ui

// Recurring runs, as Kubeflow Pipelines' recurring runs: a Schedule says which pipeline to run,
// with which arguments, on which cron expression, and what to do about times that passed while no
// scheduler was running. Schedules live in the store (tables pipeline_schedules and
// pipeline_schedule_fires), so any process can create, pause or list them while a long-lived
// Scheduler (the `mlcore scheduler` command, or one a C++ program owns) fires them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/cron.h"

namespace mlcore::pipeline {

// What a scheduler does with cron times that passed while it was not running (or while the
// schedule was at max_concurrency):
//   kSkip  run none of them; fire only a time that is at most SchedulerOptions::misfire_grace
//          late, then carry on with the next time.
//   kOnce  run once, for the latest missed time, standing for all of them.
//   kAll   run every missed time, oldest first, at most ScheduleOptions::max_catchup of them
//          (the latest ones); older ones are skipped.
enum class CatchUp { kSkip, kOnce, kAll };
// "skip", "once", "all"; InvalidArgument naming the word otherwise.
StatusOr<CatchUp> ParseCatchUp(std::string_view name);
const char* CatchUpName(CatchUp catchup);

// How a scheduler finds the pipeline again, in a process that did not create the schedule.
namespace pipeline_kind {
// `pipeline` is a "module:function" import path of a Python @pipeline (the `mlcore scheduler`
// command loads it).
inline constexpr char kPython[] = "python";
// `pipeline` is a name given to RegisterPipeline in the scheduler's process.
inline constexpr char kRegistered[] = "registered";
}  // namespace pipeline_kind

struct ScheduleOptions {
  // Unique in the namespace; empty: "<pipeline>-<8 hex digits>". Letters, digits, '-', '_', '.'.
  std::string name;
  std::string kind = pipeline_kind::kRegistered;
  std::string pipeline;  // see pipeline_kind
  Json arguments = Json::object();
  std::string cron;               // see CronSchedule
  std::string time_zone = "UTC";  // the zone the cron fields are read in
  std::string experiment = "Default";
  // Runs of this schedule that may be pending or running at once; a due time waits (and then
  // follows the catch-up policy) while the limit is reached. 0: no limit.
  int max_concurrency = 1;
  CatchUp catchup = CatchUp::kSkip;
  // kAll: the most missed times run after a long outage; raising it replays more history.
  int max_catchup = 100;
  // The first fire is the first cron time strictly after this; default: creation time.
  std::optional<absl::Time> start_after;
};

// A schedule as recorded.
struct Schedule {
  std::string id;  // 32 hex digits
  std::string ns;
  ScheduleOptions options;
  bool enabled = true;
  // Every cron time up to this one has been fired or deliberately skipped.
  absl::Time watermark;
  std::optional<absl::Time> last_fire;  // the scheduled time of the latest fire
  absl::Time created_at;
  absl::Time updated_at;
};

// One scheduled time that a scheduler claimed. state: "claimed" (run being started), "started"
// (run_id set), "retrying" (the run could not be started, error says why; it is tried again at
// retry_at, per SchedulerOptions::start_retry), "failed" (the run could not be started after
// every try; error says why), "lost" (the scheduler died before starting it).
struct ScheduleFire {
  std::string schedule_id;
  absl::Time scheduled_time;
  std::string state;
  std::string run_id;
  std::string error;
  absl::Time fired_at;
  int attempts = 0;                    // tries to start the run so far
  std::optional<absl::Time> retry_at;  // "retrying": when the next try is due
  // The scheduler holding the fire's lease ("host:pid:8 hex digits") and when the lease runs out
  // (by the database's clock); see SchedulerOptions::lease. Unset for fires recorded before
  // leases, and once the fire no longer needs one (retrying, failed, lost).
  std::string lease_owner;
  std::optional<absl::Time> lease_until;
};

// The schedules of one namespace (the Client's). Thread-safe as the Client's store is.
class Schedules {
 public:
  // `client` must outlive this object. Applies the "pipeline_schedule" migrations.
  static StatusOr<std::unique_ptr<Schedules>> Open(Client* client);

  // InvalidArgument for a bad cron expression, name, kind, catch-up or limit (naming it);
  // NotFound for an unknown time zone; AlreadyExists for a name already used.
  StatusOr<Schedule> Create(const ScheduleOptions& options, absl::Time now = absl::Now());
  // By id or name; NotFound otherwise.
  StatusOr<Schedule> Get(std::string_view id_or_name);
  StatusOr<std::vector<Schedule>> List();
  // Pausing stops new fires; resuming starts again from `now`: times that passed while paused
  // are not run, whatever the catch-up policy (that is for outages, not for pauses).
  Status Pause(std::string_view id_or_name, absl::Time now = absl::Now());
  Status Resume(std::string_view id_or_name, absl::Time now = absl::Now());
  // Deletes the schedule and its fire records; runs it started stay.
  Status Delete(std::string_view id_or_name);
  // The schedule's fires, latest first.
  StatusOr<std::vector<ScheduleFire>> Fires(std::string_view id_or_name, int limit = 1000);
  // The next `n` cron times after max(watermark, now).
  StatusOr<std::vector<absl::Time>> NextTimes(std::string_view id_or_name, int n,
                                              absl::Time now = absl::Now());

  Client& client() { return *client_; }

 private:
  explicit Schedules(Client* client) : client_(client) {}
  Client* client_;
};

// Builds the pipeline a kRegistered schedule names.
using PipelineFactory = std::function<StatusOr<Pipeline>()>;
// Registers `name` for kRegistered schedules in this process; AlreadyExists when taken.
Status RegisterPipeline(std::string name, PipelineFactory factory);

// Starts the run for one scheduled time and returns its run id.
using Launcher =
    std::function<StatusOr<std::string>(const Schedule& schedule, absl::Time scheduled_time)>;
// The launcher of kRegistered schedules: builds the registered pipeline and Client::Start's it
// with the schedule's arguments and experiment.
Launcher RegisteredPipelineLauncher(Client* client);

struct SchedulerOptions {
  // The longest the loop sleeps between looks at the store, which is how long a schedule created
  // by another process, or a run finishing under max_concurrency, can wait to be noticed.
  absl::Duration poll = absl::Seconds(30);
  // kSkip: how late a time may be and still fire.
  absl::Duration misfire_grace = absl::Seconds(60);
  // Launchers by pipeline kind; schedules of other kinds are left to other schedulers. Default:
  // kRegistered only.
  std::map<std::string, Launcher> launchers;
  // A fire whose run fails to start (the pipeline cannot be loaded or built, its arguments are
  // refused, the store is busy) is tried again after backoff, backoff * factor, ... (max_backoff
  // at most) by whichever scheduler ticks then, up to max_retries times, before it is recorded
  // failed. A fire waiting to be retried holds a max_concurrency slot. max_retries 0: fail at once.
  RetryPolicy start_retry = {3, absl::Seconds(10), 2.0, absl::Minutes(10)};
  // Fire records kept per schedule (the latest ones; those still claimed or retrying are always
  // kept): each tick deletes older ones, in one transaction. 0: keep every record.
  int keep_fires = 1000;
  // How long a claim holds without being renewed. The scheduler that claims a fire holds a lease
  // on it until lease_until = the database's clock + lease (PostgreSQL's clock_timestamp(), the
  // SQLite file's machine clock), renewed every lease / 3 while the fire's run is being started
  // or is pending or running. Another scheduler takes over a fire whose lease ran out with its
  // run unfinished: the fire is recorded "lost" (never fired again, so no time fires twice), its
  // run, if any, "interrupted" (resumable as any interrupted run), and its max_concurrency slot
  // frees. So a scheduler that dies on another machine holds a slot for at most `lease`; a live
  // one whose store calls stall for longer than `lease` can lose its fires the same way.
  absl::Duration lease = absl::Seconds(60);
  // The clock. Default absl::Now. For tests: a scheduler with an injected clock still sleeps in
  // real time, at most `poll` at a time.
  std::function<absl::Time()> now;
};

// Fires due schedules of one namespace. Several schedulers (threads or processes, on one machine
// or many) may run on one store: each scheduled time is claimed in a store transaction before its
// run starts, so it fires once; the claim is a lease the scheduler renews while the run is alive,
// taken over once it runs out (SchedulerOptions::lease); and a restarted scheduler carries on from
// the recorded watermark.
class Scheduler {
 public:
  // `client` must outlive the scheduler.
  static StatusOr<std::unique_ptr<Scheduler>> Create(Client* client, SchedulerOptions options);
  ~Scheduler();

  // Fires what is due now (per catch-up policy and max_concurrency); returns the fires made,
  // including ones whose run failed to start (state "failed"). When the store refuses a write it
  // fails with the store's error: a fire record or a run's final record that could not be written
  // is kept and written first by the next tick (until then the fire stays "claimed" and holds its
  // slot), and every claimed time is still launched.
  StatusOr<std::vector<ScheduleFire>> Tick();
  // Ticks until Stop: sleeps until the next due time or `poll`, whichever comes first. A failed
  // tick (the store busy past its timeout) is logged and tried again after `poll`, so a
  // long-lived scheduler survives it; a launcher's error only fails that fire.
  Status Run();
  // Wakes Run and makes it return; callable from any thread.
  void Stop();

  // When the next enabled schedule is due (InfiniteFuture when none).
  StatusOr<absl::Time> NextDue();

  // Renews the leases of this scheduler's fires that still need one (see SchedulerOptions::lease).
  // Run does it every lease / 3 on a thread of its own, and Tick each time; a caller that drives
  // Tick itself, with launches slower than the lease, calls it at least that often.
  Status RenewLeases();
  // "host:pid:8 hex digits": this scheduler's name in lease_owner.
  const std::string& lease_owner() const;

 private:
  Scheduler(Client* client, std::unique_ptr<Schedules> schedules, SchedulerOptions options);
  // Deletes fire records past SchedulerOptions::keep_fires.
  Status PruneFires();
  // Run's loop of ticks, until Stop.
  void Loop();
  struct State;

  Client* client_;
  std::unique_ptr<Schedules> schedules_;
  SchedulerOptions options_;
  std::unique_ptr<State> state_;
};

// The "pipeline_schedule" module's migrations.
const std::vector<store::Migration>& ScheduleMigrations();
// The same tables on PostgreSQL.
const std::vector<store::Migration>& PostgresScheduleMigrations();

}  // namespace mlcore::pipeline

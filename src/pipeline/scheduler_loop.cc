// The recurring-run loop: Scheduler::Tick claims due times in one store transaction per schedule
// (so two schedulers never fire one time twice) and starts their runs outside it. A claim is a
// lease (pipeline/schedule_leases.h) that Run renews on a thread of its own.
#include <algorithm>
#include <climits>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "mlcore/pipeline/schedule.h"
#include "pipeline/records.h"
#include "pipeline/run_heartbeat.h"
#include "pipeline/schedule_leases.h"
#include "pipeline/schedule_rows.h"

namespace mlcore::pipeline {

using internal::ToSeconds;
using internal::ValueInt;
using internal::ValueText;

struct Scheduler::State {
  std::mutex mu;
  std::condition_variable wake;
  bool stopped = false;
  std::map<std::string, CronSchedule> crons;  // by "cron\ntime zone"
  // Outcomes of fires this scheduler claimed whose record the store refused (under mu): written
  // first by the next tick. Until then the fire stays "claimed" by this live process, so it keeps
  // its max_concurrency slot, as the run it may have started does.
  std::vector<ScheduleFire> unwritten;
  std::string lease_owner;  // "host:pid:8 hex digits", unique per Scheduler
};

namespace {

// Enumerating missed times stops here, so a minutely schedule after years of outage still
// answers quickly; only the latest max_catchup ones can matter anyway.
constexpr int kMaxEnumerated = 1 << 20;

struct Claim {
  Schedule schedule;
  std::vector<absl::Time> times;
  std::vector<int> attempts;  // per time: the tries already made (retried fires)
};

// The wait before try `attempt` + 1 after `attempt` failed tries.
absl::Duration Backoff(const RetryPolicy& p, int attempt) {
  absl::Duration d = p.backoff;
  for (int i = 1; i < attempt && d < p.max_backoff; ++i) d = d * p.backoff_factor;
  return std::min(d, p.max_backoff);
}

}  // namespace

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(Client* client, SchedulerOptions options) {
  MLCORE_ASSIGN_OR_RETURN(auto schedules, Schedules::Open(client));
  if (options.launchers.empty()) {
    options.launchers[pipeline_kind::kRegistered] = RegisteredPipelineLauncher(client);
  }
  if (!options.now) options.now = [] { return absl::Now(); };
  if (options.poll <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("scheduler poll interval must be positive");
  }
  if (options.lease < absl::Milliseconds(30)) {
    return absl::InvalidArgumentError("scheduler lease must be at least 30 ms");
  }
  const RetryPolicy& r = options.start_retry;
  if (r.max_retries < 0 || r.backoff < absl::ZeroDuration() || r.backoff_factor < 1.0) {
    return absl::InvalidArgumentError(
        "scheduler start retries must be >= 0, their backoff >= 0 and backoff factor >= 1");
  }
  return std::unique_ptr<Scheduler>(
      new Scheduler(client, std::move(schedules), std::move(options)));
}

Scheduler::Scheduler(Client* client, std::unique_ptr<Schedules> schedules, SchedulerOptions options)
    : client_(client),
      schedules_(std::move(schedules)),
      options_(std::move(options)),
      state_(std::make_unique<State>()) {
  const internal::ProcessIdentity me = internal::ThisProcess();
  state_->lease_owner = absl::StrCat(me.host, ":", me.pid, ":", internal::NewRunId().substr(0, 8));
}

const std::string& Scheduler::lease_owner() const { return state_->lease_owner; }

Status Scheduler::RenewLeases() {
  return internal::RenewLeases(client_->metadata(), state_->lease_owner, options_.lease);
}

Scheduler::~Scheduler() = default;

namespace {

StatusOr<CronSchedule> CachedCron(std::mutex& mu, std::map<std::string, CronSchedule>& cache,
                                  const ScheduleOptions& o) {
  std::string key = absl::StrCat(o.cron, "\n", o.time_zone);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  MLCORE_ASSIGN_OR_RETURN(CronSchedule cron, CronSchedule::Parse(o.cron, o.time_zone));
  cache.emplace(key, cron);
  return cron;
}

// Records a claimed fire's outcome (started, retrying or failed) while `owner` still holds it: a
// fire taken over after its lease ran out stays "lost". Only a started run still needs the lease.
Status WriteFire(store::SqlDatabase& db, const ScheduleFire& fire, const std::string& owner) {
  Status st =
      db.Query(
            "UPDATE pipeline_schedule_fires SET state = ?3, run_id = ?4, error = ?5, attempts = "
            "?6, retry_at = ?7, lease_until = CASE WHEN ?3 = 'started' THEN lease_until ELSE NULL "
            "END WHERE schedule_id = ?1 AND scheduled_time = ?2 AND state = 'claimed' AND "
            "lease_owner = ?8",
            {fire.schedule_id, ToSeconds(fire.scheduled_time), fire.state, fire.run_id, fire.error,
             int64_t{fire.attempts},
             fire.retry_at ? store::Value(ToSeconds(*fire.retry_at)) : store::Value(), owner})
          .status();
  if (st.ok()) return st;
  return absl::Status(
      st.code(),
      absl::StrCat("recording the fire of schedule ", fire.schedule_id, " at ",
                   absl::FormatTime(fire.scheduled_time, absl::UTCTimeZone()), " (", fire.state,
                   fire.run_id.empty() ? "" : ", run " + fire.run_id, "): ", st.message()));
}

// Writes the fire records an earlier tick could not; the first error if any is still refused.
// The store is written without holding `mu` (Stop takes it and must not wait on the store).
Status WriteUnwritten(store::SqlDatabase& db, std::mutex& mu, std::vector<ScheduleFire>& unwritten,
                      const std::string& owner) {
  std::vector<ScheduleFire> pending;
  {
    std::lock_guard<std::mutex> lock(mu);
    pending.swap(unwritten);
  }
  Status first;
  std::vector<ScheduleFire> refused;
  for (ScheduleFire& fire : pending) {
    Status st = WriteFire(db, fire, owner);
    if (st.ok()) continue;
    if (first.ok()) first = st;
    refused.push_back(std::move(fire));
  }
  std::lock_guard<std::mutex> lock(mu);
  unwritten.insert(unwritten.begin(), std::make_move_iterator(refused.begin()),
                   std::make_move_iterator(refused.end()));
  return first;
}

// Pending or running runs of the schedule, plus times claimed by a live scheduler whose run has
// not started yet (expired leases were taken over before). Claims recorded before leases belong
// to a live scheduler while its process lives; those of dead ones are marked lost on the way.
StatusOr<int> ActiveRuns(store::SqlDatabase& db, const std::string& schedule_id, double now) {
  MLCORE_ASSIGN_OR_RETURN(
      auto claims,
      db.Query("SELECT scheduled_time, owner_host, owner_pid, owner_start, lease_until FROM "
               "pipeline_schedule_fires WHERE schedule_id = ?1 AND state = 'claimed'",
               {schedule_id}));
  int active = 0;
  for (const auto& c : claims) {
    if (internal::OptionalTime(c[4]).has_value()) {
      ++active;
      continue;
    }
    internal::ProcessIdentity owner{ValueText(c[1]), ValueInt(c[2]), ValueText(c[3])};
    if (internal::IsAlive(owner)) {
      ++active;
      continue;
    }
    MLCORE_RETURN_IF_ERROR(
        db.Query("UPDATE pipeline_schedule_fires SET state = 'lost', error = ?3, fired_at = ?4 "
                 "WHERE schedule_id = ?1 AND scheduled_time = ?2",
                 {schedule_id, c[0],
                  absl::StrCat("the scheduler (pid ", owner.pid, " on ", owner.host,
                               ") ended before starting the run"),
                  now})
            .status());
  }
  MLCORE_ASSIGN_OR_RETURN(auto retrying,
                          db.Query("SELECT COUNT(*) FROM pipeline_schedule_fires WHERE "
                                   "schedule_id = ?1 AND state = 'retrying'",
                                   {schedule_id}));
  active += static_cast<int>(ValueInt(retrying[0][0]));
  MLCORE_ASSIGN_OR_RETURN(
      auto running,
      db.Query("SELECT COUNT(*) FROM pipeline_schedule_fires f JOIN pipeline_runs r ON r.id = "
               "f.run_id WHERE f.schedule_id = ?1 AND f.state = 'started' AND r.state IN "
               "('pending', 'running')",
               {schedule_id}));
  return active + static_cast<int>(ValueInt(running[0][0]));
}

// Inside the claim transaction: fires of `sched` whose run failed to start and whose retry is
// due, taken over by this scheduler (added to `claim`).
Status TakeDueRetries(store::SqlDatabase& db, const Schedule& sched, absl::Time now,
                      const internal::ProcessIdentity& me, const std::string& owner,
                      absl::Duration lease, Claim* claim) {
  MLCORE_ASSIGN_OR_RETURN(
      auto retries, db.Query("SELECT scheduled_time, attempts FROM pipeline_schedule_fires WHERE "
                             "schedule_id = ?1 AND state = 'retrying' AND retry_at <= ?2 ORDER BY "
                             "scheduled_time",
                             {sched.id, ToSeconds(now)}));
  for (const auto& r : retries) {
    MLCORE_RETURN_IF_ERROR(
        db.Query(absl::StrCat("UPDATE pipeline_schedule_fires SET state = 'claimed', owner_host = "
                              "?3, owner_pid = ?4, owner_start = ?5, fired_at = ?6, lease_owner = "
                              "?7, lease_until = ",
                              internal::StoreNowSql(db.dialect()),
                              " + ?8 WHERE schedule_id = ?1 AND scheduled_time = ?2"),
                 {sched.id, r[0], me.host, me.pid, me.start, ToSeconds(now), owner,
                  absl::ToDoubleSeconds(lease)})
            .status());
    claim->times.push_back(internal::OptionalTime(r[0]).value_or(absl::UnixEpoch()));
    claim->attempts.push_back(static_cast<int>(ValueInt(r[1])));
  }
  return absl::OkStatus();
}

// The due times of `sched` up to `now` to fire, by its catch-up policy; `latest_due` gets the
// latest due time (unset when nothing is due).
std::vector<absl::Time> DueCandidates(const Schedule& sched, const CronSchedule& cron,
                                      absl::Time now, absl::Duration misfire_grace,
                                      std::optional<absl::Time>* latest_due) {
  const size_t keep = static_cast<size_t>(std::max(sched.options.max_catchup, 1));
  std::deque<absl::Time> due;  // the latest `keep` due times
  absl::Time t = sched.watermark;
  for (int i = 0; i < kMaxEnumerated; ++i) {
    StatusOr<absl::Time> next = cron.Next(t);
    if (!next.ok() || *next > now) break;
    due.push_back(*next);
    if (due.size() > keep) due.pop_front();
    t = *next;
  }
  if (due.empty()) return {};
  const absl::Time latest = due.back();
  *latest_due = latest;

  std::vector<absl::Time> candidates;
  switch (sched.options.catchup) {
    case CatchUp::kSkip:
      if (now - latest <= misfire_grace) candidates.push_back(latest);
      break;
    case CatchUp::kOnce:
      candidates.push_back(latest);
      break;
    case CatchUp::kAll:
      candidates.assign(due.begin(), due.end());
      break;
  }
  return candidates;
}

// Inside the claim transaction: claims as many of `candidates` as `sched`'s max_concurrency
// leaves slots for (added to `claim`) and moves its watermark past what is fired or skipped.
Status ClaimFires(store::SqlDatabase& db, Schedule sched, const std::vector<absl::Time>& candidates,
                  absl::Time latest, absl::Time now, const internal::ProcessIdentity& me,
                  const std::string& owner, absl::Duration lease, Claim* claim) {
  int slots = INT_MAX;
  if (sched.options.max_concurrency > 0 && !candidates.empty()) {
    MLCORE_ASSIGN_OR_RETURN(int active, ActiveRuns(db, sched.id, ToSeconds(now)));
    slots = std::max(0, sched.options.max_concurrency - active);
  }
  size_t n = std::min(candidates.size(), static_cast<size_t>(slots));
  absl::Time watermark = sched.watermark;
  if (n == candidates.size()) {
    watermark = latest;  // everything due is fired or deliberately skipped
  } else if (n > 0) {
    watermark = candidates[n - 1];  // the rest waits for a free slot
  }
  for (size_t i = 0; i < n; ++i) {
    MLCORE_RETURN_IF_ERROR(
        db.Query(absl::StrCat("INSERT INTO pipeline_schedule_fires(schedule_id, scheduled_time, "
                              "state, owner_host, owner_pid, owner_start, fired_at, lease_owner, "
                              "lease_until) VALUES (?1, ?2, 'claimed', ?3, ?4, ?5, ?6, ?7, ",
                              internal::StoreNowSql(db.dialect()), " + ?8)"),
                 {sched.id, ToSeconds(candidates[i]), me.host, me.pid, me.start, ToSeconds(now),
                  owner, absl::ToDoubleSeconds(lease)})
            .status());
    claim->times.push_back(candidates[i]);
    claim->attempts.push_back(0);
  }
  if (watermark == sched.watermark && n == 0) return absl::OkStatus();
  MLCORE_RETURN_IF_ERROR(
      db.Query(
            "UPDATE pipeline_schedules SET watermark = ?2, last_fire = COALESCE(?3, "
            "last_fire), updated_at = ?4 WHERE id = ?1",
            {sched.id, ToSeconds(watermark),
             n > 0 ? store::Value(ToSeconds(candidates[n - 1])) : store::Value(), ToSeconds(now)})
          .status());
  claim->schedule = std::move(sched);
  return absl::OkStatus();
}

// Starts the run of claimed fire `i` of `claim`: started, or (when the launcher fails) retrying
// after a backoff or failed once the retries are spent.
ScheduleFire StartFire(const Claim& claim, size_t i, const Launcher& launch,
                       const RetryPolicy& retry, absl::Time now) {
  const absl::Time t = claim.times[i];
  ScheduleFire fire;
  fire.schedule_id = claim.schedule.id;
  fire.scheduled_time = t;
  fire.state = "started";
  fire.fired_at = now;
  fire.attempts = claim.attempts[i] + 1;
  StatusOr<std::string> run_id = launch(claim.schedule, t);
  if (run_id.ok()) {
    fire.run_id = *run_id;
  } else if (fire.attempts <= retry.max_retries) {
    fire.state = "retrying";
    fire.error = std::string(run_id.status().message());
    fire.retry_at = now + Backoff(retry, fire.attempts);
    MLCORE_LOG(Warning) << "schedule '" << claim.schedule.options.name << "' at "
                        << absl::FormatTime(t, absl::UTCTimeZone()) << ": try " << fire.attempts
                        << " did not start the run, trying again at "
                        << absl::FormatTime(*fire.retry_at, absl::UTCTimeZone()) << ": "
                        << fire.error;
  } else {
    fire.state = "failed";
    fire.error = fire.attempts == 1
                     ? std::string(run_id.status().message())
                     : absl::StrCat("the run did not start in ", fire.attempts,
                                    " tries; the last said: ", run_id.status().message());
    MLCORE_LOG(Warning) << "schedule '" << claim.schedule.options.name << "' at "
                        << absl::FormatTime(t, absl::UTCTimeZone())
                        << ": the run did not start: " << fire.error;
  }
  return fire;
}

}  // namespace

StatusOr<std::vector<ScheduleFire>> Scheduler::Tick() {
  const absl::Time now = options_.now();
  // Fires recorded late come first: their claims hold slots until then.
  const std::string& owner = state_->lease_owner;
  MLCORE_RETURN_IF_ERROR(WriteUnwritten(client_->metadata(), state_->mu, state_->unwritten, owner));
  // Runs of a killed scheduler would otherwise count against max_concurrency forever; runs of
  // this process whose final record the store refused are recorded here too.
  MLCORE_RETURN_IF_ERROR(client_->RecoverInterrupted().status());
  MLCORE_RETURN_IF_ERROR(RenewLeases());
  MLCORE_ASSIGN_OR_RETURN(std::vector<Schedule> all, schedules_->List());
  store::SqlDatabase& db = client_->metadata();
  const internal::ProcessIdentity me = internal::ThisProcess();

  std::vector<Claim> claims;
  for (const Schedule& listed : all) {
    if (!listed.enabled || !options_.launchers.count(listed.options.kind)) continue;
    Claim claim;
    Status s = db.Transaction([&]() -> Status {
      // Read again under the write lock: another scheduler may have claimed since List. On
      // SQLite the transaction holds the database's write lock; on PostgreSQL the schedule's
      // row lock (FOR UPDATE) makes the other schedulers wait, then read the moved watermark.
      MLCORE_ASSIGN_OR_RETURN(
          auto rows,
          db.Query(absl::StrCat(internal::kScheduleSelect, "WHERE id = ?1",
                                db.dialect() == store::SqlDialect::kPostgres ? " FOR UPDATE" : ""),
                   {listed.id}));
      if (rows.empty()) return absl::OkStatus();
      Schedule sched = internal::ToSchedule(rows[0]);
      if (!sched.enabled) return absl::OkStatus();
      // Fires whose scheduler stopped renewing their lease free their slots first.
      MLCORE_RETURN_IF_ERROR(internal::TakeOverExpiredLeases(db, sched.id, now).status());
      MLCORE_RETURN_IF_ERROR(TakeDueRetries(db, sched, now, me, owner, options_.lease, &claim));
      if (!claim.times.empty()) claim.schedule = sched;
      MLCORE_ASSIGN_OR_RETURN(CronSchedule cron,
                              CachedCron(state_->mu, state_->crons, sched.options));
      std::optional<absl::Time> latest_due;
      std::vector<absl::Time> candidates =
          DueCandidates(sched, cron, now, options_.misfire_grace, &latest_due);
      if (!latest_due.has_value()) return absl::OkStatus();
      return ClaimFires(db, std::move(sched), candidates, *latest_due, now, me, owner,
                        options_.lease, &claim);
    });
    MLCORE_RETURN_IF_ERROR(s);
    if (!claim.times.empty()) claims.push_back(std::move(claim));
  }

  std::vector<ScheduleFire> fires;
  Status unrecorded;  // the first fire record the store refused
  const RetryPolicy& retry = options_.start_retry;
  for (const Claim& claim : claims) {
    const Launcher& launch = options_.launchers.at(claim.schedule.options.kind);
    for (size_t i = 0; i < claim.times.size(); ++i) {
      ScheduleFire fire = StartFire(claim, i, launch, retry, now);
      // A refused record must not end the loop: the claims after it would stay claimed, unrun.
      if (Status st = WriteFire(db, fire, owner); !st.ok()) {
        MLCORE_LOG(Warning) << StatusText(st) << "; kept for the next tick";
        if (unrecorded.ok()) unrecorded = st;
        std::lock_guard<std::mutex> lock(state_->mu);
        state_->unwritten.push_back(fire);
      }
      fires.push_back(std::move(fire));
    }
  }
  MLCORE_RETURN_IF_ERROR(unrecorded);
  MLCORE_RETURN_IF_ERROR(PruneFires());
  return fires;
}

Status Scheduler::PruneFires() {
  if (options_.keep_fires <= 0) return absl::OkStatus();
  // One statement, so one transaction: per schedule of this namespace, rows past the latest
  // keep_fires go, except fires still in progress.
  return client_->metadata()
      .Query(
          "DELETE FROM pipeline_schedule_fires WHERE rowid IN (SELECT rowid FROM (SELECT "
          "f.rowid AS rowid, f.state AS state, ROW_NUMBER() OVER (PARTITION BY f.schedule_id "
          "ORDER BY f.scheduled_time DESC) AS n FROM pipeline_schedule_fires f JOIN "
          "pipeline_schedules s ON s.id = f.schedule_id WHERE s.namespace = ?1) AS ranked WHERE n "
          "> ?2 "
          "AND state NOT IN ('claimed', 'retrying'))",
          {client_->options().ns, int64_t{options_.keep_fires}})
      .status();
}

StatusOr<absl::Time> Scheduler::NextDue() {
  MLCORE_ASSIGN_OR_RETURN(std::vector<Schedule> all, schedules_->List());
  absl::Time next = absl::InfiniteFuture();
  for (const Schedule& s : all) {
    if (!s.enabled || !options_.launchers.count(s.options.kind)) continue;
    MLCORE_ASSIGN_OR_RETURN(CronSchedule cron, CachedCron(state_->mu, state_->crons, s.options));
    StatusOr<absl::Time> t = cron.Next(s.watermark);
    if (t.ok()) next = std::min(next, *t);
    MLCORE_ASSIGN_OR_RETURN(
        auto retry, client_->metadata().Query("SELECT MIN(retry_at) FROM pipeline_schedule_fires "
                                              "WHERE schedule_id = ?1 AND state = 'retrying'",
                                              {s.id}));
    if (auto r = internal::OptionalTime(retry[0][0])) next = std::min(next, *r);
  }
  return next;
}

Status Scheduler::Run() {
  // Leases are renewed beside the loop, so a launch or a tick slower than the lease keeps them.
  std::thread renewer([this] {
    std::unique_lock<std::mutex> lock(state_->mu);
    while (!state_->wake.wait_for(lock, absl::ToChronoNanoseconds(options_.lease / 3),
                                  [this] { return state_->stopped; })) {
      lock.unlock();
      if (Status st = RenewLeases(); !st.ok()) {
        MLCORE_LOG(Warning) << "renewing the scheduler's leases failed: " << StatusText(st);
      }
      lock.lock();
    }
  });
  Loop();
  renewer.join();
  return absl::OkStatus();
}

void Scheduler::Loop() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (state_->stopped) return;
    }
    StatusOr<std::vector<ScheduleFire>> fired = Tick();
    if (!fired.ok()) {
      // A store busy past its timeout must not end a long-lived scheduler; try again later.
      MLCORE_LOG(Warning) << "scheduler tick failed: " << StatusText(fired.status());
    }
    absl::Duration sleep = options_.poll;
    StatusOr<absl::Time> next = NextDue();
    if (next.ok()) {
      absl::Duration until = *next - options_.now();
      // A schedule already due is waiting for a free slot: look again after `poll`.
      if (until > absl::ZeroDuration()) sleep = std::min(sleep, until);
    }
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->wake.wait_for(lock, absl::ToChronoNanoseconds(sleep),
                          [this] { return state_->stopped; });
  }
}

void Scheduler::Stop() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stopped = true;
  state_->wake.notify_all();
}

}  // namespace mlcore::pipeline

// The scheduler's robustness: a fire whose run fails to start is tried again with backoff, then
// recorded failed with the reason; retries hold a concurrency slot; old fire records are pruned.
#include <atomic>
#include <mutex>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "mlcore/pipeline/schedule.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::ScratchHome;

absl::Time At(const std::string& text) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M:%S", text, absl::UTCTimeZone(), &t, &err)) << err;
  return t;
}

struct Harness {
  ScratchHome home;
  std::unique_ptr<Client> client = home.Open();
  std::unique_ptr<Schedules> schedules = *Schedules::Open(client.get());
  std::mutex mu;
  absl::Time now;
  std::atomic<int> launches{0};
  std::atomic<int> failures_left{0};  // the launcher fails this many times, then starts "runs"
  std::unique_ptr<Scheduler> scheduler;

  // failing_starts: how many times the launcher fails before it starts runs.
  explicit Harness(SchedulerOptions o, int failing_starts = 0) {
    failures_left = failing_starts;
    o.now = [this] {
      std::lock_guard<std::mutex> lock(mu);
      return now;
    };
    o.launchers[pipeline_kind::kRegistered] = [this](const Schedule&, absl::Time t) {
      ++launches;
      if (failures_left.fetch_sub(1) > 0) {
        return StatusOr<std::string>(absl::NotFoundError("cannot load module 'gone'"));
      }
      return StatusOr<std::string>(absl::FormatTime("run-%H%M", t, absl::UTCTimeZone()));
    };
    scheduler = *Scheduler::Create(client.get(), std::move(o));
  }

  std::vector<ScheduleFire> TickAt(const std::string& when) {
    {
      std::lock_guard<std::mutex> lock(mu);
      now = At(when);
    }
    auto fires = scheduler->Tick();
    EXPECT_TRUE(fires.ok()) << fires.status();
    return fires.ok() ? *fires : std::vector<ScheduleFire>{};
  }

  // Creates schedule `name` and ticks at its first time, 00:05.
  std::vector<ScheduleFire> CreateAndTick(const std::string& name, int max_concurrency = 0) {
    Create(name, max_concurrency);
    return TickAt("2024-01-01 00:05:00");
  }

  void Create(const std::string& name, int max_concurrency = 0) {
    ScheduleOptions o;
    o.name = name;
    o.pipeline = "p";
    o.cron = "*/5 * * * *";
    o.catchup = CatchUp::kAll;
    o.max_concurrency = max_concurrency;
    o.start_after = At("2024-01-01 00:00:00");
    auto s = schedules->Create(o, At("2024-01-01 00:00:00"));
    ASSERT_TRUE(s.ok()) << s.status();
  }
};

std::vector<std::string> States(const std::vector<ScheduleFire>& fires) {
  std::vector<std::string> states;
  for (const ScheduleFire& f : fires) states.push_back(f.state);
  return states;
}

SchedulerOptions Retries(int n) {
  SchedulerOptions o;
  o.start_retry.max_retries = n;
  o.start_retry.backoff = absl::Minutes(1);
  o.start_retry.backoff_factor = 2.0;
  o.start_retry.max_backoff = absl::Minutes(10);
  return o;
}

TEST(SchedulerStartRetry, RetriedWithBackoffThenRecordedFailedWithTheReason) {
  Harness h(Retries(2), /*failing_starts=*/100);
  auto fires = h.CreateAndTick("flaky");
  ASSERT_EQ(States(fires), std::vector<std::string>{"retrying"});
  EXPECT_EQ(fires[0].attempts, 1);
  EXPECT_EQ(*fires[0].retry_at, At("2024-01-01 00:06:00"));
  EXPECT_HAS(fires[0].error, "cannot load module 'gone'");
  EXPECT_EQ(*h.scheduler->NextDue(), At("2024-01-01 00:06:00"));  // Run wakes for the retry
  EXPECT_TRUE(h.TickAt("2024-01-01 00:05:30").empty());           // not due yet
  fires = h.TickAt("2024-01-01 00:06:00");
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].attempts, 2);
  EXPECT_EQ(*fires[0].retry_at, At("2024-01-01 00:08:00"));  // the backoff doubled
  fires = h.TickAt("2024-01-01 00:08:00");
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].state, "failed");
  EXPECT_EQ(fires[0].attempts, 3);
  EXPECT_HAS(fires[0].error, "did not start in 3 tries");
  EXPECT_HAS(fires[0].error, "cannot load module 'gone'");
  EXPECT_EQ(h.launches.load(), 3);
  // Recorded for `mlcore schedules show`.
  auto recorded = h.schedules->Fires("flaky");
  ASSERT_EQ(recorded->size(), 1u);
  EXPECT_EQ((*recorded)[0].state, "failed");
  EXPECT_EQ((*recorded)[0].attempts, 3);
  EXPECT_EQ((*recorded)[0].scheduled_time, At("2024-01-01 00:05:00"));
  EXPECT_TRUE(h.TickAt("2024-01-01 00:09:00").empty());  // given up: no more tries
}

TEST(SchedulerStartRetry, ARetryThatStartsTheRunRecordsIt) {
  Harness h(Retries(3), /*failing_starts=*/1);
  EXPECT_EQ(States(h.CreateAndTick("once-flaky")), std::vector<std::string>{"retrying"});
  auto fires = h.TickAt("2024-01-01 00:06:00");
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].state, "started");
  EXPECT_EQ(fires[0].run_id, "run-0005");  // the run is for the scheduled time
  EXPECT_EQ(fires[0].attempts, 2);
  EXPECT_EQ((*h.schedules->Fires("once-flaky"))[0].run_id, "run-0005");
}

TEST(SchedulerStartRetry, ARetryingFireHoldsItsConcurrencySlot) {
  Harness h(Retries(3), /*failing_starts=*/1);
  EXPECT_EQ(States(h.CreateAndTick("held", /*max_concurrency=*/1)),
            std::vector<std::string>{"retrying"});
  // 00:05's retry is due at 00:06; before that 00:05 still holds the only slot.
  EXPECT_TRUE(h.TickAt("2024-01-01 00:05:59").empty());
  auto fires = h.TickAt("2024-01-01 00:06:00");
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].state, "started");
}

TEST(SchedulerStartRetry, NoRetriesFailsAtOnceAndBadPoliciesAreRefused) {
  Harness h(Retries(0), /*failing_starts=*/100);
  auto fires = h.CreateAndTick("strict");
  ASSERT_EQ(States(fires), std::vector<std::string>{"failed"});
  EXPECT_EQ(fires[0].error, "cannot load module 'gone'");
  SchedulerOptions bad = Retries(-1);
  EXPECT_EQ(Scheduler::Create(h.client.get(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerPrune, KeepsTheLatestFiresPerSchedule) {
  SchedulerOptions o = Retries(0);
  o.keep_fires = 3;
  Harness h(o);
  h.Create("a");
  h.Create("b");
  for (int m = 5; m <= 30; m += 5) {
    auto fires = h.TickAt(absl::StrFormat("2024-01-01 00:%02d:00", m));
    EXPECT_EQ(fires.size(), 2u) << m;
  }
  for (const char* name : {"a", "b"}) {
    auto kept = h.schedules->Fires(name);
    ASSERT_EQ(kept->size(), 3u) << name;
    EXPECT_EQ((*kept)[0].scheduled_time, At("2024-01-01 00:30:00"));
    EXPECT_EQ((*kept)[2].scheduled_time, At("2024-01-01 00:20:00"));
  }
  // A fire still waiting for its retry is kept however old it is.
  SchedulerOptions r = Retries(5);
  r.start_retry.backoff = absl::Hours(1);
  r.start_retry.max_backoff = absl::Hours(1);
  r.keep_fires = 1;
  Harness g(r);
  g.failures_left = 1;
  g.Create("c");
  EXPECT_EQ(g.TickAt("2024-01-01 00:05:00")[0].state, "retrying");  // next try at 01:05
  EXPECT_EQ(g.TickAt("2024-01-01 00:10:00")[0].state, "started");
  EXPECT_EQ(g.TickAt("2024-01-01 00:15:00")[0].state, "started");
  auto kept = g.schedules->Fires("c");
  ASSERT_EQ(kept->size(), 2u);
  EXPECT_EQ((*kept)[0].scheduled_time, At("2024-01-01 00:15:00"));
  EXPECT_EQ((*kept)[1].state, "retrying");
}

}  // namespace
}  // namespace mlcore::pipeline

#include "mlcore/pipeline/schedule.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Fn;
using testing::ScratchHome;

absl::Time Utc(const std::string& text) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M", text, absl::UTCTimeZone(), &t, &err)) << err;
  return t;
}

// A settable clock shared by the scheduler under test.
struct FakeClock {
  std::mutex mu;
  absl::Time now;
  void Set(absl::Time t) {
    std::lock_guard<std::mutex> lock(mu);
    now = t;
  }
  std::function<absl::Time()> Fn() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu);
      return now;
    };
  }
};

// A gate that the "hold" pipeline's task waits on, so runs stay running until released.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

Gate& HoldGate() {
  static Gate* gate = new Gate;
  return *gate;
}

void RegisterTestPipelines() {
  static bool done = [] {
    EXPECT_TRUE(RegisterPipeline("sched-noop", []() -> StatusOr<Pipeline> {
                  auto noop = Fn("noop", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
                  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("sched-noop"));
                  MLCORE_RETURN_IF_ERROR(p.AddTask("noop", noop));
                  return p;
                }).ok());
    EXPECT_TRUE(RegisterPipeline("sched-hold", []() -> StatusOr<Pipeline> {
                  auto hold = Fn("hold", {}, {}, [](TaskContext&) {
                    Gate& g = HoldGate();
                    std::unique_lock<std::mutex> lock(g.mu);
                    g.cv.wait(lock, [&] { return g.open; });
                    return absl::OkStatus();
                  });
                  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("sched-hold"));
                  MLCORE_RETURN_IF_ERROR(p.AddTask("hold", hold));
                  return p;
                }).ok());
    return true;
  }();
  (void)done;
}

ScheduleOptions Every5(std::string name, CatchUp catchup = CatchUp::kSkip,
                       std::string pipeline = "sched-noop") {
  ScheduleOptions o;
  o.name = std::move(name);
  o.pipeline = std::move(pipeline);
  o.cron = "*/5 * * * *";
  o.catchup = catchup;
  o.start_after = Utc("2024-01-01 00:00");
  o.max_concurrency = 0;
  return o;
}

std::vector<std::string> Times(const std::vector<ScheduleFire>& fires) {
  std::vector<std::string> out;
  for (const auto& f : fires)
    out.push_back(absl::FormatTime("%H:%M", f.scheduled_time, absl::UTCTimeZone()));
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ScheduleRecords, CreateGetListPauseResumeDelete) {
  ScratchHome home;
  auto client = home.Open();
  auto schedules = Schedules::Open(client.get());
  ASSERT_TRUE(schedules.ok()) << schedules.status();
  ScheduleOptions o = Every5("nightly");
  o.arguments = {{"x", 3}};
  o.experiment = "exp";
  auto s = (*schedules)->Create(o, Utc("2024-01-01 00:00"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->id.size(), 32u);
  EXPECT_EQ(s->options.arguments["x"], 3);
  EXPECT_TRUE(s->enabled);
  EXPECT_EQ((*schedules)->Get("nightly")->id, s->id);
  EXPECT_EQ((*schedules)->Get(s->id)->options.name, "nightly");
  EXPECT_EQ((*schedules)->Create(o).status().code(), absl::StatusCode::kAlreadyExists);

  auto next = (*schedules)->NextTimes("nightly", 2, Utc("2024-01-01 00:00"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)[0], Utc("2024-01-01 00:05"));
  EXPECT_EQ((*next)[1], Utc("2024-01-01 00:10"));

  ASSERT_TRUE((*schedules)->Pause("nightly", Utc("2024-01-01 00:30")).ok());
  EXPECT_FALSE((*schedules)->Get("nightly")->enabled);
  ASSERT_TRUE((*schedules)->Resume("nightly", Utc("2024-01-01 01:00")).ok());
  auto resumed = (*schedules)->Get("nightly");
  EXPECT_TRUE(resumed->enabled);
  EXPECT_EQ(resumed->watermark, Utc("2024-01-01 01:00"));  // paused times are not replayed

  // Another namespace sees none of it.
  auto other = home.Open("team-b");
  auto other_schedules = Schedules::Open(other.get());
  EXPECT_TRUE((*other_schedules)->List()->empty());
  EXPECT_EQ((*other_schedules)->Get("nightly").status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE((*schedules)->Delete("nightly").ok());
  EXPECT_EQ((*schedules)->Get("nightly").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*schedules)->List()->empty());
}

TEST(ScheduleRecords, BadOptionsAreRejectedWithTheirName) {
  ScratchHome home;
  auto client = home.Open();
  auto schedules = *Schedules::Open(client.get());
  ScheduleOptions o = Every5("bad");
  o.cron = "*/5 25 * * *";
  auto s = schedules->Create(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(s.status().message()), "hour: '25'");
  o = Every5("bad name!");
  EXPECT_HAS(std::string(schedules->Create(o).status().message()), "bad name!");
  o = Every5("py");
  o.kind = pipeline_kind::kPython;
  o.pipeline = "no_colon";
  EXPECT_HAS(std::string(schedules->Create(o).status().message()), "module:function");
  o = Every5("neg");
  o.max_concurrency = -1;
  EXPECT_HAS(std::string(schedules->Create(o).status().message()), "max_concurrency");
  o = Every5("tz");
  o.time_zone = "Nowhere/Land";
  EXPECT_EQ(schedules->Create(o).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ParseCatchUp("sometimes").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(schedules->List()->empty());
}

struct Fixture {
  ScratchHome home;
  std::unique_ptr<Client> client;
  std::unique_ptr<Schedules> schedules;
  FakeClock clock;
  std::unique_ptr<Scheduler> scheduler;

  Fixture() {
    RegisterTestPipelines();
    client = home.Open();
    schedules = *Schedules::Open(client.get());
    SchedulerOptions o;
    o.now = clock.Fn();
    o.misfire_grace = absl::Minutes(1);
    o.start_retry.max_retries = 0;  // retries have their own tests (scheduler_retry_test.cc)
    scheduler = *Scheduler::Create(client.get(), o);
  }

  std::vector<ScheduleFire> TickAt(const std::string& when) {
    clock.Set(Utc(when));
    auto fires = scheduler->Tick();
    EXPECT_TRUE(fires.ok()) << fires.status();
    for (const auto& f : *fires) {
      EXPECT_EQ(f.state, "started") << f.error;
      auto run = client->GetRun(f.run_id);
      EXPECT_TRUE(run.ok()) << run.status();
    }
    return fires.ok() ? *fires : std::vector<ScheduleFire>{};
  }

  // Waits for every recorded run to be recorded finished; a run still unfinished after a
  // generous deadline fails the test instead of hanging it.
  void WaitRuns() {
    auto runs = client->ListRuns();
    ASSERT_TRUE(runs.ok()) << runs.status();
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    for (const auto& r : *runs) {
      while (true) {
        auto run = client->GetRun(r.id);
        ASSERT_TRUE(run.ok()) << run.status();
        if (run->state != state::kRunning && run->state != state::kPending) break;
        ASSERT_LT(absl::Now(), deadline) << "run " << r.id << " is still recorded " << run->state;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
};

TEST(RecurringScheduler, FiresOnTimeAndRecordsTheScheduledTime) {
  Fixture f;
  ASSERT_TRUE(f.schedules->Create(Every5("s"), Utc("2024-01-01 00:00")).ok());
  EXPECT_TRUE(f.TickAt("2024-01-01 00:04").empty());
  auto fires = f.TickAt("2024-01-01 00:05");
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(Times(fires), std::vector<std::string>{"00:05"});
  EXPECT_TRUE(f.TickAt("2024-01-01 00:06").empty());  // not twice
  f.WaitRuns();
  auto recorded = f.schedules->Fires("s");
  ASSERT_EQ(recorded->size(), 1u);
  EXPECT_EQ((*recorded)[0].run_id, fires[0].run_id);
  EXPECT_EQ(f.client->GetRun(fires[0].run_id)->state, state::kSucceeded);
  EXPECT_EQ(*f.schedules->Get("s")->last_fire, Utc("2024-01-01 00:05"));
  EXPECT_EQ(*f.scheduler->NextDue(), Utc("2024-01-01 00:10"));
}

TEST(RecurringScheduler, CatchUpPolicies) {
  Fixture f;
  ASSERT_TRUE(f.schedules->Create(Every5("skip", CatchUp::kSkip)).ok());
  ASSERT_TRUE(f.schedules->Create(Every5("once", CatchUp::kOnce)).ok());
  ScheduleOptions all = Every5("all", CatchUp::kAll);
  all.max_catchup = 4;
  ASSERT_TRUE(f.schedules->Create(all).ok());
  // 00:05 .. 00:50 (10 times) were missed; the scheduler comes back at 00:52, 2 min late.
  auto fires = f.TickAt("2024-01-01 00:52");
  std::map<std::string, std::vector<ScheduleFire>> by;
  for (const auto& fire : fires)
    by[f.schedules->Get(fire.schedule_id)->options.name].push_back(fire);
  EXPECT_TRUE(by["skip"].empty());  // 00:50 is past the 1 min grace
  EXPECT_EQ(Times(by["once"]), std::vector<std::string>{"00:50"});
  EXPECT_EQ(Times(by["all"]), (std::vector<std::string>{"00:35", "00:40", "00:45", "00:50"}));
  // All three carry on with the next time.
  fires = f.TickAt("2024-01-01 00:55");
  EXPECT_EQ(fires.size(), 3u);
  // A time within the grace still fires under kSkip.
  fires = f.TickAt("2024-01-01 01:00");
  EXPECT_EQ(fires.size(), 3u);
  f.WaitRuns();
}

TEST(RecurringScheduler, MaxConcurrencyHoldsTimesUntilASlotFrees) {
  Fixture f;
  ScheduleOptions o = Every5("held", CatchUp::kAll, "sched-hold");
  o.max_concurrency = 1;
  ASSERT_TRUE(f.schedules->Create(o).ok());
  auto fires = f.TickAt("2024-01-01 00:05");
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_TRUE(f.TickAt("2024-01-01 00:10").empty());  // 00:05 still running
  EXPECT_TRUE(f.TickAt("2024-01-01 00:15").empty());
  HoldGate().Open();
  f.WaitRuns();
  // kAll: the held times fire once there is room, one at a time.
  fires = f.TickAt("2024-01-01 00:16");
  EXPECT_EQ(Times(fires), std::vector<std::string>{"00:10"});
  f.WaitRuns();
  fires = f.TickAt("2024-01-01 00:16");
  EXPECT_EQ(Times(fires), std::vector<std::string>{"00:15"});
  f.WaitRuns();
}

TEST(RecurringScheduler, LauncherErrorsFailOnlyThatFire) {
  Fixture f;
  ScheduleOptions o = Every5("missing", CatchUp::kSkip, "not-registered");
  ASSERT_TRUE(f.schedules->Create(o).ok());
  f.clock.Set(Utc("2024-01-01 00:05"));
  auto fires = f.scheduler->Tick();
  ASSERT_TRUE(fires.ok());
  ASSERT_EQ(fires->size(), 1u);
  EXPECT_EQ((*fires)[0].state, "failed");
  EXPECT_HAS((*fires)[0].error, "not-registered");
  EXPECT_EQ((*f.schedules->Fires("missing"))[0].state, "failed");
}

TEST(RecurringScheduler, TwoSchedulersOnOneStoreFireEachTimeOnce) {
  Fixture f;
  ScheduleOptions o = Every5("shared", CatchUp::kAll);
  o.cron = "* * * * *";
  o.max_catchup = 1000;
  ASSERT_TRUE(f.schedules->Create(o).ok());
  auto second_client = f.home.Open();
  SchedulerOptions so;
  so.now = f.clock.Fn();
  auto second = *Scheduler::Create(second_client.get(), so);
  std::atomic<int> fired{0};
  std::set<std::string> times;
  std::mutex mu;
  auto work = [&](Scheduler* s) {
    for (int minute = 1; minute <= 30; ++minute) {
      auto fires = s->Tick();
      ASSERT_TRUE(fires.ok()) << fires.status();
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& x : *fires) {
        ++fired;
        EXPECT_TRUE(times.insert(absl::FormatTime(x.scheduled_time)).second) << "fired twice";
      }
    }
  };
  f.clock.Set(Utc("2024-01-01 00:30"));
  std::thread a(work, f.scheduler.get());
  std::thread b(work, second.get());
  a.join();
  b.join();
  EXPECT_EQ(fired.load(), 30);
  f.WaitRuns();
}

TEST(RecurringScheduler, RunReturnsOnStop) {
  Fixture f;
  std::thread t([&] { EXPECT_TRUE(f.scheduler->Run().ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  f.scheduler->Stop();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace mlcore::pipeline

// The scheduler when the store refuses writes: a tick fails with the store's error (a long-lived
// scheduler logs it and tries again), nothing it could not write is dropped, and neither a run
// whose final record was refused nor a fire whose record was refused holds its schedule's
// max_concurrency slot for ever: the next tick that can write records them.
#include <memory>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/pipeline/schedule.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::LockingPipeline;
using testing::LockTaker;
using testing::ScratchHome;
using testing::StoreWriteLock;

absl::Time At(int minute) { return absl::FromUnixSeconds(1704067200) + absl::Minutes(minute); }

// A schedule every 5 minutes (max_concurrency 1) of LockingPipeline, on a store with a short
// busy timeout; `lock_after_launch` makes the first launch lock the store right after the run
// starts, before the tick records the fire.
struct Harness {
  ScratchHome home;
  std::unique_ptr<Client> client = home.Open("default", absl::Milliseconds(100));
  std::unique_ptr<Schedules> schedules = *Schedules::Open(client.get());
  LockTaker taker;  // the first run's last task locks the store
  bool lock_after_launch = false;
  std::unique_ptr<StoreWriteLock> launcher_lock;
  std::mutex mu;
  absl::Time now = At(0);
  std::vector<std::shared_ptr<RunHandle>> handles;
  std::unique_ptr<Scheduler> scheduler;

  Harness() {
    SchedulerOptions o;
    o.now = [this] {
      std::lock_guard<std::mutex> l(mu);
      return now;
    };
    o.start_retry.max_retries = 0;
    o.launchers[pipeline_kind::kRegistered] = [this](const Schedule&,
                                                     absl::Time) -> StatusOr<std::string> {
      MLCORE_ASSIGN_OR_RETURN(
          auto h, client->Start(LockingPipeline(home.path(), &taker), {.enable_caching = false}));
      handles.push_back(h);
      if (lock_after_launch && launcher_lock == nullptr) {
        launcher_lock = std::make_unique<StoreWriteLock>(home.path());
      }
      return h->id();
    };
    scheduler = *Scheduler::Create(client.get(), o);
    ScheduleOptions s;
    s.name = "every5";
    s.pipeline = "locked";
    s.cron = "*/5 * * * *";
    s.max_concurrency = 1;
    s.start_after = At(0);
    EXPECT_TRUE(schedules->Create(s, At(0)).ok());
  }

  StatusOr<std::vector<ScheduleFire>> Tick(int minute) {
    {
      std::lock_guard<std::mutex> l(mu);
      now = At(minute);
    }
    return scheduler->Tick();
  }

  // With the store writable again: the next tick records what was refused and fires 00:10.
  void ExpectTheSlotFreed() {
    auto second = Tick(10);
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_EQ(second->size(), 1u) << "the refused run still holds the schedule's only slot";
    EXPECT_EQ(client->GetRun(handles[0]->id())->state, state::kSucceeded);
    ASSERT_EQ(handles.size(), 2u);
    auto run = handles[1]->Wait(absl::Seconds(120));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->state, state::kSucceeded);
    auto fires = schedules->Fires("every5");
    ASSERT_TRUE(fires.ok()) << fires.status();
    ASSERT_EQ(fires->size(), 2u);
    EXPECT_EQ(fires->back().state, "started");
    EXPECT_EQ(fires->back().run_id, handles[0]->id());
  }
};

TEST(SchedulerStoreFaults, ARefusedFinalRecordFailsTheTickThenFreesTheSlot) {
  Harness h;
  h.taker.gated = true;  // the run locks the store only once the tick has recorded the fire
  auto first = h.Tick(5);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  h.taker.Allow();
  ASSERT_EQ(h.handles.size(), 1u);
  auto waited = h.handles[0]->Wait(absl::Seconds(120));
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().code(), absl::StatusCode::kUnavailable) << waited.status();

  // The lock still held: the tick fails, naming the record it could not write.
  auto refused = h.Tick(10);
  ASSERT_FALSE(refused.ok());
  EXPECT_HAS(std::string(refused.status().message()),
             "final record of run '" + h.handles[0]->id() + "'");
  EXPECT_EQ(h.handles.size(), 1u);

  h.taker.Release();
  h.ExpectTheSlotFreed();
}

TEST(SchedulerStoreFaults, ARefusedFireRecordIsKeptAndWrittenByTheNextTick) {
  Harness h;
  h.taker.times = 0;  // the launcher locks the store instead
  h.lock_after_launch = true;
  auto first = h.Tick(5);
  ASSERT_FALSE(first.ok());
  ASSERT_EQ(h.handles.size(), 1u);
  const std::string id = h.handles[0]->id();
  EXPECT_HAS(std::string(first.status().message()), "recording the fire of schedule");
  EXPECT_HAS(std::string(first.status().message()), "run " + id);
  // The run could not record its end either; it still ends.
  auto waited = h.handles[0]->Wait(absl::Seconds(120));
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().code(), absl::StatusCode::kUnavailable) << waited.status();
  auto refused = h.Tick(10);
  ASSERT_FALSE(refused.ok());
  EXPECT_HAS(std::string(refused.status().message()), "recording the fire of schedule");

  h.launcher_lock->Release();
  h.ExpectTheSlotFreed();
}

}  // namespace
}  // namespace mlcore::pipeline

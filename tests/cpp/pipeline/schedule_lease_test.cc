// Schedule claims as leases (SchedulerOptions::lease), on the SQLite file and on a real PostgreSQL
// cluster: a scheduler process killed -9 while it holds a claim keeps its max_concurrency slot
// only until its lease runs out, then another scheduler takes the fire over (recorded lost, never
// fired again) and fires the next time; a live scheduler's renewed lease is never taken over; and
// a store written before leases migrates forward.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/pipeline/schedule.h"
#include "pipeline/backend_test_util.h"
#include "pipeline/pipeline_test_util.h"
#include "pipeline/schedule_rows.h"
#include "store/postgres_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::ScratchHome;

// Long enough that a renewal every lease / 3 on 2 shared cores never lapses; short enough that a
// takeover comes within seconds.
constexpr absl::Duration kLease = absl::Seconds(2);

absl::Time Start() {
  absl::Time t;
  EXPECT_TRUE(
      absl::ParseTime("%Y-%m-%d %H:%M", "2024-01-01 00:00", absl::UTCTimeZone(), &t, nullptr));
  return t;
}

class ScheduleLeases : public testing::BackendTest {
 protected:
  void SetUp() override {
    testing::BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    client_ = home_.Open();
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    if (holder_ > 0) Kill();
    testing::BackendTest::TearDown();
  }

  // A minutely schedule from Start(), one run at a time, every missed time run.
  void CreateSchedule() {
    auto schedules = Schedules::Open(client_.get());
    ASSERT_TRUE(schedules.ok()) << schedules.status();
    ASSERT_TRUE((*schedules)
                    ->Create(testing::MinutelyCatchingUp("leased", "never-built", Start(), 1))
                    .ok());
  }

  // Forks a scheduler process whose clock reads Start() + 1:30 (so 00:01 is due) and whose
  // launcher never returns: its fire stays claimed while Run renews the lease.
  void StartHolder() {
    const std::string marker = home_.path() + "/claimed";
    holder_ = fork();
    ASSERT_GE(holder_, 0);
    if (holder_ != 0) {
      for (int i = 0; i < 600 && !std::filesystem::exists(marker); ++i)
        absl::SleepFor(absl::Milliseconds(50));
      ASSERT_TRUE(std::filesystem::exists(marker)) << "the holder never claimed a fire";
      return;
    }
    auto client = home_.Open();
    if (client == nullptr) _exit(10);
    SchedulerOptions so;
    so.lease = kLease;
    so.now = [] { return Start() + absl::Seconds(90); };
    so.launchers[pipeline_kind::kRegistered] = [marker](const Schedule&,
                                                        absl::Time) -> StatusOr<std::string> {
      std::ofstream(marker) << getpid();
      while (true) absl::SleepFor(absl::Seconds(60));
    };
    auto scheduler = Scheduler::Create(client.get(), so);
    if (!scheduler.ok()) _exit(11);
    (void)(*scheduler)->Run();
    _exit(0);
  }

  void Kill() {
    ::kill(holder_, SIGKILL);
    int status = 0;
    ::waitpid(holder_, &status, 0);
    holder_ = 0;
  }

  // A scheduler in this process whose clock reads Start() + 2:30 (00:02 due) and whose launcher
  // records the times it launched.
  std::unique_ptr<Scheduler> Taker() {
    SchedulerOptions so;
    so.lease = kLease;
    so.now = [] { return Start() + absl::Seconds(150); };
    so.launchers[pipeline_kind::kRegistered] = [this](const Schedule&,
                                                      absl::Time t) -> StatusOr<std::string> {
      launched_.push_back(t);
      return absl::StrCat("run-", absl::ToUnixSeconds(t));
    };
    auto scheduler = Scheduler::Create(client_.get(), so);
    EXPECT_TRUE(scheduler.ok()) << scheduler.status();
    return scheduler.ok() ? std::move(*scheduler) : nullptr;
  }

  std::vector<ScheduleFire> Fires() {
    auto schedules = Schedules::Open(client_.get());
    EXPECT_TRUE(schedules.ok());
    auto fires = (*schedules)->Fires("leased");
    EXPECT_TRUE(fires.ok()) << fires.status();
    return fires.ok() ? *fires : std::vector<ScheduleFire>{};
  }

  ScratchHome home_;
  std::unique_ptr<Client> client_;
  pid_t holder_ = 0;
  std::vector<absl::Time> launched_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ScheduleLeases, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(ScheduleLeases, ALiveSchedulersRenewedLeaseIsNotTakenOver) {
  CreateSchedule();
  StartHolder();
  std::vector<ScheduleFire> fires = Fires();
  ASSERT_EQ(fires.size(), 1u);
  ASSERT_EQ(fires[0].state, "claimed");
  EXPECT_NE(fires[0].lease_owner.find(absl::StrCat(":", holder_, ":")), std::string::npos)
      << fires[0].lease_owner;
  ASSERT_TRUE(fires[0].lease_until.has_value());
  const absl::Time first_lease = *fires[0].lease_until;

  auto taker = Taker();
  ASSERT_NE(taker, nullptr);
  // Three leases long: without renewals the claim would have run out twice over.
  const absl::Time until = absl::Now() + 3 * kLease;
  while (absl::Now() < until) {
    auto fired = taker->Tick();
    ASSERT_TRUE(fired.ok()) << fired.status();
    EXPECT_TRUE(fired->empty()) << "a live scheduler's claim was taken over";
    absl::SleepFor(absl::Milliseconds(200));
  }
  fires = Fires();
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].state, "claimed");
  ASSERT_TRUE(fires[0].lease_until.has_value());
  EXPECT_GT(*fires[0].lease_until, first_lease + kLease) << "the lease was not renewed";
  EXPECT_TRUE(launched_.empty());
}

TEST_P(ScheduleLeases, AKilledSchedulersClaimIsTakenOverOnceItsLeaseRunsOut) {
  CreateSchedule();
  StartHolder();
  Kill();
  auto taker = Taker();
  ASSERT_NE(taker, nullptr);
  // The holder is dead, but its lease still holds (about 2/3 of it at least is left): the slot
  // stays taken and nothing fires.
  auto fired = taker->Tick();
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_TRUE(fired->empty());
  std::vector<ScheduleFire> fires = Fires();
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].state, "claimed");

  const absl::Time deadline = absl::Now() + 10 * kLease;
  while (launched_.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
    fired = taker->Tick();
    ASSERT_TRUE(fired.ok()) << fired.status();
  }
  ASSERT_EQ(launched_.size(), 1u) << "the dead scheduler's slot never freed";
  EXPECT_EQ(launched_[0], Start() + absl::Minutes(2));
  fires = Fires();  // latest first
  ASSERT_EQ(fires.size(), 2u);
  EXPECT_EQ(fires[0].scheduled_time, Start() + absl::Minutes(2));
  EXPECT_EQ(fires[0].state, "started");
  EXPECT_EQ(fires[0].lease_owner, taker->lease_owner());
  EXPECT_EQ(fires[1].scheduled_time, Start() + absl::Minutes(1));
  EXPECT_EQ(fires[1].state, "lost");
  EXPECT_NE(fires[1].error.find("stopped renewing its lease"), std::string::npos) << fires[1].error;
  EXPECT_FALSE(fires[1].lease_until.has_value());

  // Later ticks fire neither time again.
  for (int i = 0; i < 3; ++i) {
    fired = taker->Tick();
    ASSERT_TRUE(fired.ok()) << fired.status();
    EXPECT_TRUE(fired->empty());
  }
  EXPECT_EQ(launched_.size(), 1u);
  EXPECT_EQ(Fires().size(), 2u);
}

// A store written by the version before leases (schedule migrations 1 and 2) with a fire recorded
// then: opening it adds the lease columns, the old fire reads back without a lease, and new fires
// get one.
TEST_P(ScheduleLeases, AStoreOfThePreviousVersionMigratesForward) {
  store::SqlDatabase& db = client_->metadata();
  std::vector<store::Migration> sqlite(ScheduleMigrations().begin(),
                                       ScheduleMigrations().begin() + 2);
  std::vector<store::Migration> postgres(PostgresScheduleMigrations().begin(),
                                         PostgresScheduleMigrations().begin() + 2);
  ASSERT_TRUE(store::MigrateModule(db, "pipeline_schedule", sqlite, postgres).ok());
  const double start = static_cast<double>(absl::ToUnixSeconds(Start()));
  ASSERT_TRUE(
      db.Query(absl::StrCat("INSERT INTO pipeline_schedules(", internal::kScheduleInsertColumns,
                            ") VALUES ('0123456789abcdef0123456789abcdef', 'default', "
                            "'leased', 'registered', 'p', '{}', '* * * * *', 'UTC', "
                            "'Default', 1, 'all', 1000, 1, ?1, ?2, ?1, ?1)"),
               {start + 60, start + 60})
          .ok());
  ASSERT_TRUE(db.Query("INSERT INTO pipeline_schedule_fires(schedule_id, scheduled_time, state, "
                       "run_id, fired_at, attempts) VALUES ('0123456789abcdef0123456789abcdef', "
                       "?1, 'started', 'old-run', ?1, 1)",
                       {start + 60})
                  .ok());

  auto taker = Taker();  // opens the schedules: migration 3
  ASSERT_NE(taker, nullptr);
  std::vector<ScheduleFire> fires = Fires();
  ASSERT_EQ(fires.size(), 1u);
  EXPECT_EQ(fires[0].state, "started");
  EXPECT_EQ(fires[0].run_id, "old-run");
  EXPECT_EQ(fires[0].lease_owner, "");
  EXPECT_FALSE(fires[0].lease_until.has_value());

  auto fired = taker->Tick();
  ASSERT_TRUE(fired.ok()) << fired.status();
  ASSERT_EQ(fired->size(), 1u);
  fires = Fires();
  ASSERT_EQ(fires.size(), 2u);
  EXPECT_EQ(fires[0].scheduled_time, Start() + absl::Minutes(2));
  EXPECT_EQ(fires[0].lease_owner, taker->lease_owner());
  EXPECT_TRUE(fires[0].lease_until.has_value());
}

}  // namespace
}  // namespace mlcore::pipeline

// HPO on PostgreSQL beyond the shared storage suite (sqlite_storage_test.cc runs that on both
// backends): many worker processes on one study, heartbeats finding the trials of a lost machine,
// and a study that goes on through a server restart and a server crash.
#include "mlcore/hpo/postgres_storage.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"
#include "store/postgres_test_util.h"

namespace mlcore::hpo {
namespace {

using store::testing::PgCluster;

StatusOr<double> Reporting(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -3, 3));
  MLCORE_ASSIGN_OR_RETURN(int64_t n, t.SuggestInt("n", 0, 9));
  for (int step = 0; step < 10; ++step) MLCORE_RETURN_IF_ERROR(t.Report(x * x + step, step));
  return x * x + static_cast<double>(n);
}

void ExpectContiguousAndComplete(const TrialList& trials, size_t n) {
  ASSERT_EQ(trials.size(), n);
  std::set<int64_t> numbers;
  for (const auto& t : trials) {
    numbers.insert(t->number);
    EXPECT_EQ(t->state, TrialState::kComplete) << "trial " << t->number << ": " << t->error;
    EXPECT_TRUE(t->has_value);
    EXPECT_EQ(t->intermediate_values.size(), 10u) << "trial " << t->number;
  }
  ASSERT_EQ(numbers.size(), n);
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), static_cast<int64_t>(n) - 1);
}

TEST(PostgresStorageTest, FourProcessesOfAHundredTrialsOnOneStudy) {
  MLCORE_REQUIRE_POSTGRES();
  const std::string url = PgCluster::Get()->NewDatabase();
  StudyOptions o = testing::StoredStudy(url, "shared");
  o.sampler = "random";
  { ASSERT_TRUE(Study::Create(o).ok()); }
  constexpr int kProcesses = 4, kTrialsEach = 100;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      StudyOptions mine = o;
      mine.sampler_options.seed = 100 + p;
      auto study = Study::Load(mine);
      if (!study.ok()) {
        fprintf(stderr, "load: %s\n", study.status().ToString().c_str());
        ::_exit(2);
      }
      OptimizeOptions opt;
      opt.n_trials = kTrialsEach;
      Status s = (*study)->Optimize(Reporting, opt);
      if (!s.ok()) fprintf(stderr, "optimize: %s\n", s.ToString().c_str());
      ::_exit(s.ok() ? 0 : 3);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto study = *Study::Load(o);
  ExpectContiguousAndComplete(*study->Trials(), kProcesses * kTrialsEach);
}

// A trial whose worker runs on another machine cannot be checked by pid: only its heartbeats
// tell. While they come it is left alone; once they stop for the grace period it is stale.
TEST(PostgresStorageTest, HeartbeatsFindTheTrialsOfALostMachine) {
  MLCORE_REQUIRE_POSTGRES();
  const std::string url = PgCluster::Get()->NewDatabase();
  PostgresStorageOptions fast;
  fast.store.url = url;
  fast.heartbeat_interval = absl::Milliseconds(100);
  fast.grace_period = absl::Milliseconds(600);
  auto observer = *OpenPostgresStorage(fast);
  auto study = *observer->CreateStudy("remote", StudyDirection::kMinimize);
  int64_t trial_id = -1;
  {
    auto worker = *OpenPostgresStorage(fast);
    FrozenTrial t = *worker->StartTrial(study.id);
    trial_id = t.id;
    auto admin = *store::PostgresStore::Open({.url = url});
    ASSERT_TRUE(admin
                    ->Query("UPDATE hpo_trials SET owner = 'gpu-node-7:4242:1' "
                            "WHERE trial_id = $1",
                            {trial_id})
                    .ok());
    absl::SleepFor(absl::Seconds(1));  // longer than the grace period: heartbeats keep it alive
    EXPECT_EQ(*observer->RecoverStaleTrials(study.id, /*requeue=*/false), 0);
    EXPECT_EQ(observer->GetTrial(trial_id)->state, TrialState::kRunning);
  }  // the worker's machine is gone: no more heartbeats
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(*observer->RecoverStaleTrials(study.id, /*requeue=*/false), 1);
  FrozenTrial lost = *observer->GetTrial(trial_id);
  EXPECT_EQ(lost.state, TrialState::kFailed);
  EXPECT_NE(lost.error.find("gpu-node-7:4242:1"), std::string::npos) << lost.error;
  EXPECT_NE(lost.error.find("heartbeats"), std::string::npos) << lost.error;
  // A live worker's own start also fails expired trials of the study, without a recovery call.
  {
    auto worker = *OpenPostgresStorage(fast);
    FrozenTrial t = *worker->StartTrial(study.id);
    auto admin = *store::PostgresStore::Open({.url = url});
    ASSERT_TRUE(
        admin->Query("UPDATE hpo_trials SET owner = 'gone:1:1' WHERE trial_id = $1", {t.id}).ok());
    trial_id = t.id;
  }
  absl::SleepFor(absl::Seconds(1));
  FrozenTrial next = *observer->StartTrial(study.id);
  EXPECT_EQ(next.number, 2);
  EXPECT_EQ(observer->GetTrial(trial_id)->state, TrialState::kFailed);
}

// The server restarts (pg_ctl restart) and then crashes (kill -9, started again a moment later)
// while a study runs: the workers reconnect and every trial is recorded once.
TEST(PostgresStorageTest, StudyGoesOnThroughServerRestartAndCrash) {
  MLCORE_REQUIRE_POSTGRES();
  auto cluster = PgCluster::StartPrivate();
  ASSERT_NE(cluster, nullptr);
  StudyOptions o = testing::StoredStudy(cluster->url(), "through");
  o.sampler = "random";
  auto study = *Study::Create(o);
  std::atomic<int> done{0};
  auto slow = [&](Trial& t) -> StatusOr<double> {
    absl::SleepFor(absl::Milliseconds(15));
    auto v = Reporting(t);
    ++done;
    return v;
  };
  Status optimized;
  std::thread runner([&] {
    OptimizeOptions opt;
    opt.n_trials = 80;
    opt.n_parallel = 2;
    optimized = study->Optimize(slow, opt);
  });
  while (done.load() < 15) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(cluster->Restart().ok());
  while (done.load() < 40) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(cluster->Kill().ok());
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(cluster->Up().ok());
  runner.join();
  ASSERT_TRUE(optimized.ok()) << optimized;
  auto reopened = *Study::Load(o);
  ExpectContiguousAndComplete(*reopened->Trials(), 80);
}

}  // namespace
}  // namespace mlcore::hpo

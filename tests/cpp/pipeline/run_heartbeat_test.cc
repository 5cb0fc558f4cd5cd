// Run heartbeats on both backends (SQLite and a real PostgreSQL cluster): a driver process
// killed -9 on "another machine" (its owner_host rewritten, so that this host's process table
// cannot speak for it) is found dead once its heartbeat is older than the timeout, and resumed to
// success by another client; a live driver there keeps its run; a store created before
// heartbeats migrates forward.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/store/sql_database.h"
#include "pipeline/backend_test_util.h"
#include "pipeline/pipeline_test_util.h"
#include "store/postgres_test_util.h"
#include "store/row_values.h"

namespace mlcore::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::Fn;
using testing::ScratchHome;

constexpr absl::Duration kBeat = absl::Milliseconds(100);
constexpr absl::Duration kTimeout = absl::Milliseconds(1500);

class RunHeartbeats : public testing::BackendTest {
 protected:
  void TearDown() override {
    if (driver_ > 0) {
      kill(driver_, SIGKILL);
      waitpid(driver_, nullptr, 0);
    }
    testing::BackendTest::TearDown();
  }

  std::unique_ptr<Client> Open() const {
    ClientOptions o;
    o.home = home_.path();
    o.sync_artifacts = false;
    o.run_heartbeat_interval = kBeat;
    o.run_heartbeat_timeout = kTimeout;
    auto c = Client::Open(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // The store without a client (no recovery on open): what another tool would see.
  std::shared_ptr<store::SqlDatabase> RawStore() const {
    auto opened = store::OpenHomeStore(home_.path());
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? std::move(opened->db) : nullptr;
  }

  // first -> hold: hold counts its calls and waits for the file `release` (a driver killed
  // there dies mid-run).
  Pipeline HoldPipeline() const {
    const std::string dir = home_.path();
    auto first = Fn("first", {}, {{"n", ValueType::kInt}}, [dir](TaskContext& c) {
      std::ofstream(dir + "/first.calls", std::ios::app) << "x";
      c.output_params["n"] = 7;
      return absl::OkStatus();
    });
    auto hold = Fn("hold", {{"n", ValueType::kInt}}, {{"m", ValueType::kInt}},
                   [dir](TaskContext& c) -> Status {
                     std::ofstream(dir + "/hold.calls", std::ios::app) << "x";
                     for (int i = 0; i < 600 && !fs::exists(dir + "/release"); ++i) {
                       std::this_thread::sleep_for(std::chrono::milliseconds(50));
                     }
                     if (!fs::exists(dir + "/release")) return absl::DeadlineExceededError("held");
                     c.output_params["m"] = c.params["n"].get<int>() + 1;
                     return absl::OkStatus();
                   });
    Pipeline p = *Pipeline::Create("hold", {});
    EXPECT_TRUE(p.AddTask("first", first, {}).ok());
    EXPECT_TRUE(p.AddTask("hold", hold, {{"n", InputBinding::Output("first", "n")}}).ok());
    EXPECT_TRUE(p.AddOutput("m", "hold", "m").ok());
    return p;
  }

  // Forks a driver that runs HoldPipeline (exit 0 when its run succeeds) and waits until its
  // run is recorded with `first` succeeded and `hold` started; the run's id.
  std::string StartDriver() {
    driver_ = fork();
    if (driver_ == 0) {
      auto client = Open();
      if (client == nullptr) _exit(10);
      RunRecord r = testing::RunIt(*client, HoldPipeline(), Json::object());
      _exit(r.state == "succeeded" ? 0 : 11);
    }
    auto db = RawStore();
    if (db == nullptr) return "";
    for (int i = 0; i < 600; ++i) {
      if (fs::exists(home_.path() + "/hold.calls")) {
        auto rows = db->Query(
            "SELECT r.id FROM pipeline_runs r JOIN pipeline_tasks t ON t.run_id = r.id WHERE "
            "r.state = 'running' AND t.name = 'first' AND t.state = 'succeeded'");
        if (rows.ok() && !rows->empty()) return store::internal::ValueText((*rows)[0][0]);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the driver's run never reached its held task";
    return "";
  }

  // Makes the run's owner stand for a process on another machine.
  void MoveOwnerElsewhere(const std::string& run_id) {
    auto db = RawStore();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Query("UPDATE pipeline_runs SET owner_host = 'another-machine' WHERE id = ?1", {run_id})
            .ok());
  }

  std::optional<absl::Time> HeartbeatAt(const std::string& run_id) {
    auto db = RawStore();
    if (db == nullptr) return std::nullopt;
    auto rows = db->Query("SELECT heartbeat_at FROM pipeline_runs WHERE id = ?1", {run_id});
    if (!rows.ok() || rows->empty()) return std::nullopt;
    return store::internal::OptionalTime((*rows)[0][0]);
  }

  ScratchHome home_;
  pid_t driver_ = -1;
};

INSTANTIATE_TEST_SUITE_P(Backends, RunHeartbeats, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(RunHeartbeats, DriverKilledOnAnotherMachineIsTakenOverAfterTheTimeout) {
  const std::string run_id = StartDriver();
  ASSERT_FALSE(run_id.empty());
  ASSERT_EQ(kill(driver_, SIGKILL), 0);
  waitpid(driver_, nullptr, 0);
  driver_ = -1;
  MoveOwnerElsewhere(run_id);
  const absl::Time killed = absl::Now();
  // The driver's last stamp (the test cluster runs on this machine: one clock).
  const std::optional<absl::Time> last_beat = HeartbeatAt(run_id);
  ASSERT_TRUE(last_beat.has_value());
  auto client = Open();
  ASSERT_NE(client, nullptr);
  // Its last heartbeat is fresh: the run still counts as running elsewhere.
  ASSERT_LT(absl::Now() - killed, kTimeout / 2) << "the test machine is too slow for this check";
  EXPECT_EQ(client->GetRun(run_id)->state, "running");
  RunOptions resume;
  resume.resume_run_id = run_id;
  auto refused = client->Run(HoldPipeline(), resume);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  // Once the heartbeat is older than the timeout, another client ends it as interrupted.
  int ended = 0;
  for (int i = 0; i < 100 && ended == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto n = client->RecoverInterrupted();
    ASSERT_TRUE(n.ok()) << n.status();
    ended = *n;
  }
  EXPECT_EQ(ended, 1);
  EXPECT_GE(absl::Now() - *last_beat, kTimeout);
  RunRecord interrupted = *client->GetRun(run_id);
  EXPECT_EQ(interrupted.state, "interrupted");
  EXPECT_NE(interrupted.error.find("stopped its heartbeat"), std::string::npos)
      << interrupted.error;
  EXPECT_NE(interrupted.error.find("another-machine"), std::string::npos) << interrupted.error;
  auto tasks = client->ListTasks(run_id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_EQ(testing::FindTask(*tasks, "hold")->state, "interrupted");
  // Resumed here: first keeps its output, hold runs again, and the run succeeds.
  std::ofstream(home_.path() + "/release") << "";
  RunRecord resumed = testing::RunIt(*client, HoldPipeline(), Json::object(), false, run_id);
  EXPECT_EQ(resumed.id, run_id);
  EXPECT_EQ(resumed.state, "succeeded") << resumed.error;
  EXPECT_EQ(resumed.outputs["m"], Json(8));
  EXPECT_EQ(testing::ReadAll(home_.path() + "/first.calls").size(), 1u);
  EXPECT_EQ(testing::ReadAll(home_.path() + "/hold.calls").size(), 2u);
}

TEST_P(RunHeartbeats, LiveDriverOnAnotherMachineKeepsItsRun) {
  const std::string run_id = StartDriver();
  ASSERT_FALSE(run_id.empty());
  MoveOwnerElsewhere(run_id);
  auto client = Open();
  ASSERT_NE(client, nullptr);
  std::optional<absl::Time> before = HeartbeatAt(run_id);
  ASSERT_TRUE(before.has_value());
  // Twice the timeout: a run found dead here would have been taken by now.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kTimeout / 3));
    auto n = client->RecoverInterrupted();
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 0);
  }
  EXPECT_EQ(client->GetRun(run_id)->state, "running");
  std::optional<absl::Time> after = HeartbeatAt(run_id);
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, *before + kBeat);  // the driver kept stamping it
  RunOptions resume;
  resume.resume_run_id = run_id;
  auto refused = client->Run(HoldPipeline(), resume);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("heartbeat is fresh"), std::string::npos)
      << refused.status();
  // The driver finishes its own run.
  std::ofstream(home_.path() + "/release") << "";
  int status = 0;
  ASSERT_EQ(waitpid(driver_, &status, 0), driver_);
  driver_ = -1;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(client->GetRun(run_id)->state, "succeeded");
  EXPECT_EQ(testing::ReadAll(home_.path() + "/hold.calls").size(), 1u);
}

// A store written by the version before heartbeats: Open adds the column, and a run recorded
// then as running on another machine (no heartbeat) is left alone, as it was before.
TEST_P(RunHeartbeats, StoreOfThePreviousVersionMigratesForward) {
  {
    auto db = RawStore();
    ASSERT_NE(db, nullptr);
    const bool pg = db->dialect() == store::SqlDialect::kPostgres;
    std::vector<store::Migration> v1(1,
                                     (pg ? PostgresPipelineMigrations() : PipelineMigrations())[0]);
    ASSERT_EQ(v1[0].version, 1);
    ASSERT_TRUE(store::MigrateModule(*db, "pipeline", v1, v1).ok());
    EXPECT_FALSE(db->Query("SELECT heartbeat_at FROM pipeline_runs").ok());
    for (const char* sql :
         {"INSERT INTO pipeline_pipelines(namespace, name, created_at) VALUES ('default', 'p', 1)",
          "INSERT INTO pipeline_versions(pipeline_id, digest, spec, created_at) VALUES (1, 'd', "
          "'{}', 1)",
          "INSERT INTO pipeline_experiments(namespace, name, created_at) VALUES ('default', "
          "'Default', 1)",
          "INSERT INTO pipeline_runs(id, namespace, experiment_id, version_id, arguments, state, "
          "owner_host, owner_pid, owner_start, created_at, started_at) VALUES ('old', 'default', "
          "1, 1, '{}', 'running', 'another-machine', 42, '7', 1, 1)"}) {
      ASSERT_TRUE(db->Query(sql).ok()) << sql;
    }
  }
  auto client = Open();
  ASSERT_NE(client, nullptr);
  auto rows = client->metadata().Query("SELECT heartbeat_at FROM pipeline_runs WHERE id = 'old'");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_FALSE(store::internal::OptionalTime((*rows)[0][0]).has_value());
  EXPECT_EQ(client->GetRun("old")->state, "running");
  // New runs get their heartbeat.
  std::ofstream(home_.path() + "/release") << "";
  RunRecord r = testing::RunIt(*client, HoldPipeline(), Json::object());
  EXPECT_EQ(r.state, "succeeded") << r.error;
  EXPECT_TRUE(HeartbeatAt(r.id).has_value());
}

// Two clients resume one dead run at the same moment: one takes it (compare and set on its state
// and owner), the other is refused, and the held task runs again once, not twice.
TEST_P(RunHeartbeats, TwoClientsResumingOneDeadRunAtOnceTakeItOnce) {
  const std::string run_id = StartDriver();
  ASSERT_FALSE(run_id.empty());
  ASSERT_EQ(kill(driver_, SIGKILL), 0);
  waitpid(driver_, nullptr, 0);
  driver_ = -1;
  {
    auto client = Open();  // this host's dead driver: interrupted on open
    ASSERT_NE(client, nullptr);
    ASSERT_EQ(client->GetRun(run_id)->state, "interrupted");
  }
  std::ofstream(home_.path() + "/release") << "";
  const std::string go = home_.path() + "/go";
  std::vector<pid_t> resumers;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      auto client = Open();
      if (client == nullptr) _exit(10);
      while (!fs::exists(go)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      RunOptions resume;
      resume.resume_run_id = run_id;
      auto r = client->Run(HoldPipeline(), resume);
      if (!r.ok()) _exit(r.status().code() == absl::StatusCode::kFailedPrecondition ? 20 : 21);
      _exit(r->state == "succeeded" ? 0 : 22);
    }
    resumers.push_back(pid);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both clients open
  std::ofstream(go) << "";
  std::vector<int> codes;
  for (pid_t pid : resumers) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  std::sort(codes.begin(), codes.end());
  EXPECT_EQ(codes, (std::vector<int>{0, 20}));
  EXPECT_EQ(testing::ReadAll(home_.path() + "/hold.calls").size(), 2u);
  auto client = Open();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetRun(run_id)->state, "succeeded");
}

}  // namespace
}  // namespace mlcore::pipeline

// A run whose final record the store refuses (here: another connection holds the write lock past
// the busy timeout at the moment the run ends) still ends: its waiters get an error naming the run
// and what failed, nothing else recorded is lost, and the record is written later, by this
// process or, from the run's outcome file, by the next one.
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::FindTask;
using testing::Fn;
using testing::LockingPipeline;
using testing::LockTaker;
using testing::RunInChild;
using testing::ScratchHome;

const absl::Duration kBusy = absl::Milliseconds(100);
// Generous: the run needs a few busy timeouts; this bounds a hang, it does not time anything.
const absl::Duration kDeadline = absl::Seconds(120);

Pipeline PlainPipeline() {
  auto one = Fn("one", {}, {{"x", ValueType::kInt}}, [](TaskContext& ctx) {
    ctx.output_params["x"] = 1;
    return absl::OkStatus();
  });
  Pipeline p = *Pipeline::Create("plain");
  EXPECT_TRUE(p.AddTask("one", one).ok());
  return p;
}

TEST(FinalRecord, WaiterGetsTheErrorAndThisProcessWritesTheRecordLater) {
  ScratchHome home;
  auto client = home.Open("default", kBusy);
  ASSERT_NE(client, nullptr);
  auto before = client->Run(PlainPipeline(), {});
  ASSERT_TRUE(before.ok()) << before.status();

  LockTaker taker;
  auto handle = client->Start(LockingPipeline(home.path(), &taker), {.enable_caching = false});
  ASSERT_TRUE(handle.ok()) << handle.status();
  const std::string id = (*handle)->id();
  auto waited = (*handle)->Wait(kDeadline);
  ASSERT_FALSE(waited.ok()) << "the run was recorded " << waited->state;
  EXPECT_EQ(waited.status().code(), absl::StatusCode::kUnavailable) << waited.status();
  const std::string message(waited.status().message());
  EXPECT_HAS(message, "run '" + id + "' ended succeeded");
  EXPECT_HAS(message, "refused its final record");
  EXPECT_HAS(message, "locked");
  EXPECT_HAS(message, "outcome.json");
  EXPECT_TRUE((*handle)->done());
  // Waiting again gives the same answer at once.
  EXPECT_EQ((*handle)->Wait(kDeadline).status(), waited.status());

  // Reads still work under the lock: the run is recorded running, the earlier run intact.
  EXPECT_EQ(client->GetRun(id)->state, state::kRunning);
  EXPECT_EQ(client->GetRun(before->id)->state, state::kSucceeded);
  const std::string outcome = home.path() + "/pipeline/runs/" + id + "/outcome.json";
  EXPECT_TRUE(std::filesystem::exists(outcome));
  // Still refused: the retry says so rather than pretending.
  auto refused = client->RecoverInterrupted();
  ASSERT_FALSE(refused.ok());
  EXPECT_HAS(std::string(refused.status().message()), "final record of run '" + id + "'");

  taker.Release();
  auto recovered = client->RecoverInterrupted();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(*recovered, 0);  // no run of a dead process
  auto run = client->GetRun(id);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, state::kSucceeded);
  EXPECT_EQ(run->outputs["twice"], Json(14));
  EXPECT_HAS(run->error, "recorded late");
  ASSERT_TRUE(run->finished_at.has_value());
  // The tasks' records the store refused with it are written too.
  auto tasks = client->ListTasks(id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_NE(FindTask(*tasks, "last"), nullptr);
  EXPECT_EQ(FindTask(*tasks, "last")->state, state::kSucceeded);
  EXPECT_EQ(FindTask(*tasks, "last")->outputs["parameters"]["twice"], Json(14));
  EXPECT_EQ(FindTask(*tasks, "first")->state, state::kSucceeded);
  EXPECT_FALSE(std::filesystem::exists(outcome));
  EXPECT_TRUE(dynamic_cast<store::MetadataStore&>(client->metadata()).Verify().ok());
  EXPECT_EQ(client->GetRun(before->id)->state, state::kSucceeded);
}

TEST(FinalRecord, TheNextProcessRecordsTheOutcomeTheRunLeft) {
  ScratchHome home;
  const std::string result = home.path() + "/child-result";
  pid_t child = 0;
  // The run's process: the store refuses the final record, the waiter returns the error, and the
  // process ends before it can write the record (its lock goes with it).
  ASSERT_EQ(RunInChild(
                [&]() -> int {
                  auto client = home.Open("default", kBusy);
                  LockTaker taker;
                  auto run =
                      client->Run(LockingPipeline(home.path(), &taker), {.enable_caching = false});
                  std::ofstream(result)
                      << (run.ok() ? std::string("ok") : std::string(run.status().message()));
                  _exit(0);  // here, before ~Client could write the record
                },
                &child),
            0);
  EXPECT_HAS(testing::ReadAll(result), "refused its final record");

  auto client = home.Open();
  ASSERT_NE(client, nullptr);
  auto runs = client->ListRuns();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  const RunRecord& run = (*runs)[0];
  EXPECT_EQ(run.state, state::kSucceeded);
  EXPECT_EQ(run.outputs["twice"], Json(14));
  EXPECT_HAS(run.error, "recorded late from");
  EXPECT_HAS(run.error, "pid " + std::to_string(child));
  EXPECT_EQ(FindTask(client->ListTasks(run.id).value(), "last")->state, state::kSucceeded);
}

TEST(FinalRecord, WithoutAnOutcomeFileTheRunIsInterrupted) {
  ScratchHome home;
  // As above, but the outcome file is gone too (it could not be written either).
  ASSERT_EQ(RunInChild([&]() -> int {
              auto client = home.Open("default", kBusy);
              LockTaker taker;
              auto handle = client->Start(LockingPipeline(home.path(), &taker), {});
              if (!handle.ok()) return 2;
              (void)(*handle)->Wait(kDeadline);
              std::filesystem::remove(home.path() + "/pipeline/runs/" + (*handle)->id() +
                                      "/outcome.json");
              _exit(0);  // here, before ~Client could write the record
            }),
            0);
  auto client = home.Open();
  auto runs = client->ListRuns().value();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, state::kInterrupted);
  EXPECT_HAS(runs[0].error, "ended before it finished");
}

}  // namespace
}  // namespace mlcore::pipeline

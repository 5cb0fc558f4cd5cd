// Timeouts of in-process callables: the run stops waiting at the deadline, fails the task by
// name and fires its Interrupter; a callable that ignores it is abandoned, not waited for.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::FindTask;
using testing::Fn;
using testing::ScratchHome;

TEST(CallableTimeout, InterruptibleCallableIsStopped) {
  ScratchHome home;
  auto client = home.Open();
  auto stopped = std::make_shared<std::atomic<bool>>(false);
  auto comp = Fn("loops", {}, {}, [stopped](TaskContext& ctx) {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    ctx.interrupter->Set([flag] { *flag = true; });
    while (!*flag) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    *stopped = true;
    return absl::OkStatus();
  });
  comp->timeout = absl::Milliseconds(100);
  auto p = Pipeline::Create("t");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->AddTask("spin", comp).ok());
  auto run = client->Run(*p, {});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_HAS(run->error, "task 'spin' ran past its timeout of 100ms");
  for (int i = 0; i < 5000 && !*stopped; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(*stopped);
}

TEST(CallableTimeout, UninterruptibleCallableIsAbandonedAndItsOutputsIgnored) {
  ScratchHome home;
  auto client = home.Open();
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto comp = Fn("stuck", {}, {{"x", ValueType::kInt}}, [release, finished](TaskContext& ctx) {
    while (!*release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ctx.output_params["x"] = 1;
    *finished = true;
    return absl::OkStatus();
  });
  comp->timeout = absl::Milliseconds(50);
  auto quick = Fn("quick", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
  quick->timeout = absl::Seconds(30);  // a deadline it meets: runs and succeeds as usual
  auto p = Pipeline::Create("t");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->AddTask("stuck", comp).ok());
  ASSERT_TRUE(p->AddTask("quick", quick).ok());
  auto run = client->Run(*p, {});
  ASSERT_TRUE(run.ok()) << run.status();
  // The run ended while the callable was still blocked: it was not waited for.
  EXPECT_FALSE(*finished);
  EXPECT_EQ(run->state, "failed");
  EXPECT_HAS(run->error, "task 'stuck'");
  auto tasks = client->ListTasks(run->id).value();
  EXPECT_EQ(FindTask(tasks, "stuck")->state, "failed");
  EXPECT_EQ(FindTask(tasks, "quick")->state, "succeeded");
  *release = true;
  for (int i = 0; i < 5000 && !*finished; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(*finished);
}

}  // namespace
}  // namespace mlcore::pipeline

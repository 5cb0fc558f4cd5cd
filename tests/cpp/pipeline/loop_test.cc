// ParallelFor decided at run time: expansion over a task's list output, the parallelism limit,
// gathering, failures naming the iteration, caching and resume per iteration.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::pipeline::testing {
namespace {

using Counters = LoopCounters;

// make(n) -> [0..n) ; for each item: sq(x) -> x*x ; total(sum of collected squares)
StatusOr<Pipeline> FanOut(Counters* c, int parallelism, bool two_step_body = false) {
  auto make =
      Fn("make", {{"n", ValueType::kInt}}, {{"items", ValueType::kList}}, [](TaskContext& ctx) {
        Json items = Json::array();
        for (int i = 0; i < ctx.params["n"].get<int>(); ++i) items.push_back(i);
        ctx.output_params["items"] = items;
        return absl::OkStatus();
      });
  // Long enough that iterations allowed to overlap do.
  auto sq = CountingSquare(c, /*sleep_ms=*/20);
  auto inc = Fn("inc", {{"y", ValueType::kInt}}, {{"z", ValueType::kInt}}, [](TaskContext& ctx) {
    ctx.output_params["z"] = ctx.params["y"].get<int>() + 1;
    return absl::OkStatus();
  });
  auto total = SumOf("total");
  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("fan", {{"n", ValueType::kInt, Json(4)}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("make", make, {{"n", InputBinding::Parameter("n")}}));
  MLCORE_RETURN_IF_ERROR(p.AddLoop("for-1", InputBinding::Output("make", "items"), parallelism));
  TaskOptions in_loop;
  in_loop.loop = "for-1";
  MLCORE_RETURN_IF_ERROR(p.AddTask("sq", sq, {{"x", InputBinding::LoopItem("for-1")}}, in_loop));
  std::string gathered = "sq";
  std::string output = "y";
  if (two_step_body) {
    MLCORE_RETURN_IF_ERROR(
        p.AddTask("inc", inc, {{"y", InputBinding::Output("sq", "y")}}, in_loop));
    gathered = "inc";
    output = "z";
  }
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("total", total, {{"values", InputBinding::Gather(gathered, output)}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("sum", "total", "sum"));
  return p;
}

StatusOr<Pipeline> FanOutUnlimited(Counters* c) { return FanOut(c, 0); }

// Most tests run FanOut with no parallelism limit.
using Loop = PipelineShapeTest<Counters, FanOutUnlimited>;

TEST_F(Loop, FansOutOverATaskOutputAndGathers) {
  for (int n : {0, 1, 5}) {
    c.calls = 0;
    RunRecord run = RunIt(*client, *p, {{"n", n}});
    EXPECT_EQ(run.state, "succeeded") << run.error;
    int expect = 0;
    for (int i = 0; i < n; ++i) expect += i * i;
    EXPECT_EQ(run.outputs["sum"], Json(expect)) << "n=" << n;
    EXPECT_EQ(c.calls.load(), n);
    auto tasks = client->ListTasks(run.id).value();
    // make, the loop's row, total and one sq per item.
    EXPECT_EQ(tasks.size(), 3u + n);
    const TaskRecord* loop = FindTask(tasks, "for-1");
    ASSERT_NE(loop, nullptr);
    EXPECT_EQ(loop->state, "succeeded");
    EXPECT_EQ(loop->outputs["parameters"]["iterations"], Json(n));
    for (int i = 0; i < n; ++i) {
      const TaskRecord* t = FindTask(tasks, "sq[" + std::to_string(i) + "]");
      ASSERT_NE(t, nullptr) << i;
      EXPECT_EQ(t->state, "succeeded");
      EXPECT_EQ(t->outputs["parameters"]["y"], Json(i * i));
    }
  }
}

TEST_F(Loop, ParallelismLimitHolds) {
  for (bool two_step : {false, true}) {
    Counters limited_c;
    auto limited = FanOut(&limited_c, 2, two_step);
    ASSERT_TRUE(limited.ok()) << limited.status();
    RunRecord run = RunIt(*client, *limited, {{"n", 8}});
    EXPECT_EQ(run.state, "succeeded") << run.error;
    EXPECT_EQ(limited_c.calls.load(), 8);
    EXPECT_LE(limited_c.max_running.load(), 2) << "two_step=" << two_step;
    EXPECT_GE(limited_c.max_running.load(), 1);
  }
  // Without a limit the same body overlaps more (8 workers, 20 ms tasks).
  RunRecord run = RunIt(*client, *p, {{"n", 8}});
  EXPECT_EQ(run.state, "succeeded") << run.error;
  EXPECT_GT(c.max_running.load(), 2);
}

TEST_F(Loop, AFailingIterationFailsTheRunNamingItAndOthersFinish) {
  c.fail_item = 3;
  RunRecord run = RunIt(*client, *p, {{"n", 5}});
  EXPECT_EQ(run.state, "failed");
  EXPECT_HAS(run.error, "ParallelFor 'for-1' iteration 3");
  EXPECT_HAS(run.error, "task 'sq[3]'");
  EXPECT_HAS(run.error, "item 3 is bad");
  auto tasks = client->ListTasks(run.id).value();
  EXPECT_EQ(FindTask(tasks, "sq[3]")->state, "failed");
  EXPECT_EQ(FindTask(tasks, "sq[4]")->state, "succeeded");
  EXPECT_EQ(FindTask(tasks, "for-1")->state, "failed");
  EXPECT_EQ(FindTask(tasks, "total")->state, "skipped");
}

TEST_F(Loop, ResumeRunsOnlyUnfinishedIterations) {
  c.fail_item = 2;
  RunRecord first = RunIt(*client, *p, {{"n", 4}});
  ASSERT_EQ(first.state, "failed");
  EXPECT_EQ(c.calls.load(), 4);
  c.fail_item = -1;
  c.calls = 0;
  // Caching off: only resume can keep the finished iterations from running again.
  RunRecord resumed = RunIt(*client, *p, Json::object(), false, first.id);
  EXPECT_EQ(resumed.id, first.id);
  EXPECT_EQ(resumed.state, "succeeded") << resumed.error;
  EXPECT_EQ(c.calls.load(), 1);
  EXPECT_EQ(resumed.outputs["sum"], Json(0 + 1 + 4 + 9));
  auto tasks = client->ListTasks(resumed.id).value();
  EXPECT_EQ(FindTask(tasks, "sq[2]")->state, "succeeded");
  EXPECT_EQ(tasks.size(), 3u + 4u);
}

TEST_F(Loop, IterationsHitTheCacheOneByOne) {
  RunRecord a = RunIt(*client, *p, {{"n", 3}}, true);
  ASSERT_EQ(a.state, "succeeded") << a.error;
  EXPECT_EQ(c.calls.load(), 3);
  // One more item: the three earlier iterations come from the cache, the new one runs.
  RunRecord b = RunIt(*client, *p, {{"n", 4}}, true);
  ASSERT_EQ(b.state, "succeeded") << b.error;
  EXPECT_EQ(c.calls.load(), 4);
  EXPECT_EQ(b.outputs["sum"], Json(14));
  auto tasks = client->ListTasks(b.id).value();
  EXPECT_EQ(FindTask(tasks, "sq[0]")->state, "cached");
  EXPECT_EQ(FindTask(tasks, "sq[3]")->state, "succeeded");
}

TEST_F(Loop, ConstantListsParametersAndDictFields) {
  auto scale = Fn("scale", {{"x", ValueType::kInt}, {"k", ValueType::kInt}},
                  {{"y", ValueType::kInt}}, [](TaskContext& ctx) {
                    ctx.output_params["y"] =
                        ctx.params["x"].get<int>() * ctx.params["k"].get<int>();
                    return absl::OkStatus();
                  });
  auto total = Fn("total", {{"values", ValueType::kList}}, {{"out", ValueType::kList}},
                  [](TaskContext& ctx) {
                    ctx.output_params["out"] = ctx.params["values"];
                    return absl::OkStatus();
                  });
  auto consts = Pipeline::Create("consts", {{"ks", ValueType::kList}});
  ASSERT_TRUE(consts.ok());
  ASSERT_TRUE(
      consts->AddLoop("points", InputBinding::Constant(Json::parse(R"([{"x":1},{"x":2}])"))).ok());
  ASSERT_TRUE(consts->AddLoop("ks", InputBinding::Parameter("ks"), 1).ok());
  TaskOptions o1;
  o1.loop = "points";
  ASSERT_TRUE(
      consts
          ->AddTask(
              "a", scale,
              {{"x", InputBinding::LoopItem("points", "x")}, {"k", InputBinding::Constant(10)}}, o1)
          .ok());
  TaskOptions o2;
  o2.loop = "ks";
  ASSERT_TRUE(consts
                  ->AddTask("b", scale,
                            {{"x", InputBinding::Constant(3)}, {"k", InputBinding::LoopItem("ks")}},
                            o2)
                  .ok());
  ASSERT_TRUE(consts->AddTask("ta", total, {{"values", InputBinding::Gather("a", "y")}}).ok());
  ASSERT_TRUE(consts->AddTask("tb", total, {{"values", InputBinding::Gather("b", "y")}}).ok());
  ASSERT_TRUE(consts->AddOutput("a", "ta", "out").ok());
  ASSERT_TRUE(consts->AddOutput("b", "tb", "out").ok());
  RunRecord run = RunIt(*client, *consts, {{"ks", {1, 2, 3}}});
  EXPECT_EQ(run.state, "succeeded") << run.error;
  EXPECT_EQ(run.outputs["a"], Json::parse("[10, 20]"));
  EXPECT_EQ(run.outputs["b"], Json::parse("[3, 6, 9]"));
}

TEST_F(Loop, MistakesAreCaughtWhenDefined) {
  auto comp = Fn("c", {{"x", ValueType::kInt}}, {{"y", ValueType::kInt}},
                 [](TaskContext&) { return absl::OkStatus(); });
  auto lst = Fn("lst", {{"v", ValueType::kList}}, {{"l", ValueType::kList}},
                [](TaskContext&) { return absl::OkStatus(); });
  auto bad = Pipeline::Create("bad");
  ASSERT_TRUE(bad.ok());
  ASSERT_TRUE(bad->AddTask("one", comp, {{"x", InputBinding::Constant(1)}}).ok());
  // Not a list: an int output, a dict constant.
  EXPECT_HAS(std::string(bad->AddLoop("l0", InputBinding::Output("one", "y")).message()),
             "a int, not a list");
  EXPECT_HAS(std::string(bad->AddLoop("l0", InputBinding::Constant(Json::object())).message()),
             "iterates over a list");
  EXPECT_FALSE(bad->AddLoop("l0", InputBinding::Constant({1}), -1).ok());
  ASSERT_TRUE(bad->AddLoop("loop", InputBinding::Constant({1, 2})).ok());
  EXPECT_EQ(bad->AddLoop("one", InputBinding::Constant({1})).code(),
            absl::StatusCode::kAlreadyExists);
  TaskOptions in;
  in.loop = "loop";
  ASSERT_TRUE(bad->AddTask("body", comp, {{"x", InputBinding::LoopItem("loop")}}, in).ok());
  // The item outside the loop; a body output read directly outside; gathering inside.
  EXPECT_HAS(
      std::string(bad->AddTask("t1", comp, {{"x", InputBinding::LoopItem("loop")}}).message()),
      "outside its body");
  EXPECT_HAS(
      std::string(bad->AddTask("t2", comp, {{"x", InputBinding::Output("body", "y")}}).message()),
      "gather its outputs into a list with Collected");
  EXPECT_HAS(std::string(
                 bad->AddTask("t3", lst, {{"v", InputBinding::Gather("body", "y")}}, in).message()),
             "collect after the loop");
  EXPECT_HAS(
      std::string(bad->AddTask("t4", comp, {{"x", InputBinding::Gather("body", "y")}}).message()),
      "need a list input");
  EXPECT_HAS(
      std::string(bad->AddTask("t5", lst, {{"v", InputBinding::Gather("one", "y")}}).message()),
      "in no ParallelFor");
  // A constant list's items are checked against the input type.
  ASSERT_TRUE(bad->AddLoop("strs", InputBinding::Constant({"a"})).ok());
  TaskOptions in2;
  in2.loop = "strs";
  EXPECT_HAS(
      std::string(bad->AddTask("t6", comp, {{"x", InputBinding::LoopItem("strs")}}, in2).message()),
      "item 0");
  EXPECT_HAS(std::string(bad->AddOutput("o", "body", "y").message()), "runs once per iteration");
}

TEST_F(Loop, UniqueTaskNameStaysFastForManyRepeats) {
  auto comp = Fn("c", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
  auto many = Pipeline::Create("many");
  ASSERT_TRUE(many.ok());
  for (int i = 0; i < 20000; ++i) {
    std::string name = many->UniqueTaskName("c");
    ASSERT_TRUE(many->AddTask(name, comp).ok()) << name;
  }
  EXPECT_EQ(many->tasks()[0].name, "c");
  EXPECT_EQ(many->tasks()[1].name, "c-2");
  EXPECT_EQ(many->tasks().back().name, "c-20000");
  // A name added by hand in the sequence is skipped.
  ASSERT_TRUE(many->AddTask("d-2", comp).ok());
  ASSERT_TRUE(many->AddTask(many->UniqueTaskName("d"), comp).ok());
  EXPECT_EQ(many->UniqueTaskName("d"), "d-3");
}

}  // namespace
}  // namespace mlcore::pipeline::testing

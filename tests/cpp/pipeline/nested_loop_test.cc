// ParallelFor inside ParallelFor: expansion per outer iteration (`task[i][j]`), items from the
// outer item or a task of the outer body, gathering as lists of lists, each level's parallelism,
// and recording, caching and resume per inner iteration.
#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::pipeline::testing {
namespace {

using Counters = LoopCounters;

std::shared_ptr<Component> Echo() {
  return Fn("echo", {{"grid", ValueType::kList}}, {{"out", ValueType::kList}},
            [](TaskContext& ctx) {
              ctx.output_params["out"] = ctx.params["grid"];
              return absl::OkStatus();
            });
}

// rows (a list of lists) -> for row: for x in row: sq(x); row_sum(collected sq) ;
// total(collected row sums), grid(collected sq across both loops: a list of lists).
StatusOr<Pipeline> Grid(Counters* c, int outer_par = 0, int inner_par = 0, int sleep_ms = 0) {
  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("grid", {{"rows", ValueType::kList}}));
  MLCORE_RETURN_IF_ERROR(p.AddLoop("rows", InputBinding::Parameter("rows"), outer_par));
  MLCORE_RETURN_IF_ERROR(p.AddLoop("cells", InputBinding::LoopItem("rows"), inner_par, "rows"));
  TaskOptions in_cells;
  in_cells.loop = "cells";
  MLCORE_RETURN_IF_ERROR(p.AddTask("sq", CountingSquare(c, sleep_ms),
                                   {{"x", InputBinding::LoopItem("cells")}}, in_cells));
  TaskOptions in_rows;
  in_rows.loop = "rows";
  MLCORE_RETURN_IF_ERROR(p.AddTask("row_sum", SumOf("row-sum"),
                                   {{"values", InputBinding::Gather("sq", "y")}}, in_rows));
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("total", SumOf("total"), {{"values", InputBinding::Gather("row_sum", "sum")}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("grid", Echo(), {{"grid", InputBinding::Gather("sq", "y")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("total", "total", "sum"));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("grid", "grid", "out"));
  return p;
}

const Json kRows = Json::parse("[[1, 2], [3], [], [4, 5, 6]]");

StatusOr<Pipeline> DefaultGrid(Counters* c) { return Grid(c); }

// Most tests run Grid with no parallelism limits over kRows.
using NestedLoop = PipelineShapeTest<Counters, DefaultGrid>;

TEST_F(NestedLoop, ExpandsPerOuterIterationAndGathersListsOfLists) {
  RunRecord run = RunIt(*client, *p, {{"rows", kRows}});
  ASSERT_EQ(run.state, "succeeded") << run.error;
  EXPECT_EQ(c.calls.load(), 6);
  EXPECT_EQ(run.outputs["total"], Json(1 + 4 + 9 + 16 + 25 + 36));
  EXPECT_EQ(run.outputs["grid"], Json::parse("[[1, 4], [9], [], [16, 25, 36]]"));
  auto tasks = client->ListTasks(run.id).value();
  // The outer loop's row, an inner loop row and a row_sum per row, one sq per cell, total, grid.
  EXPECT_EQ(tasks.size(), 1u + 4u + 4u + 6u + 2u);
  EXPECT_EQ(FindTask(tasks, "rows")->state, "succeeded");
  for (int i = 0; i < 4; ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const TaskRecord* cells = FindTask(tasks, "cells" + at);
    ASSERT_NE(cells, nullptr) << at;
    EXPECT_EQ(cells->state, "succeeded");
    EXPECT_EQ(cells->outputs["parameters"]["iterations"], Json(kRows[i].size()));
    ASSERT_NE(FindTask(tasks, "row_sum" + at), nullptr) << at;
  }
  const TaskRecord* cell = FindTask(tasks, "sq[3][2]");
  ASSERT_NE(cell, nullptr);
  EXPECT_EQ(cell->outputs["parameters"]["y"], Json(36));
  EXPECT_EQ(FindTask(tasks, "row_sum[0]")->outputs["parameters"]["sum"], Json(5));
  EXPECT_EQ(FindTask(tasks, "row_sum[2]")->outputs["parameters"]["sum"], Json(0));
  EXPECT_EQ(FindTask(tasks, "sq"), nullptr);  // templates have no rows
  EXPECT_EQ(FindTask(tasks, "cells"), nullptr);
}

TEST_F(NestedLoop, InnerItemsFromATaskOfTheOuterBody) {
  // for n in [2, 3]: make(n) -> [0..n); for x in make.items: sq(x)
  auto make =
      Fn("make", {{"n", ValueType::kInt}}, {{"items", ValueType::kList}}, [](TaskContext& ctx) {
        Json items = Json::array();
        for (int i = 0; i < ctx.params["n"].get<int>(); ++i) items.push_back(i + 10);
        ctx.output_params["items"] = items;
        return absl::OkStatus();
      });
  auto made = Pipeline::Create("made");
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(made->AddLoop("ns", InputBinding::Constant(Json::parse("[2, 3]"))).ok());
  TaskOptions in_ns;
  in_ns.loop = "ns";
  ASSERT_TRUE(made->AddTask("make", make, {{"n", InputBinding::LoopItem("ns")}}, in_ns).ok());
  Status st = made->AddLoop("xs", InputBinding::Output("make", "items"), 0, "ns");
  ASSERT_TRUE(st.ok()) << st;
  TaskOptions in_xs;
  in_xs.loop = "xs";
  ASSERT_TRUE(
      made->AddTask("sq", CountingSquare(&c), {{"x", InputBinding::LoopItem("xs")}}, in_xs).ok());
  ASSERT_TRUE(made->AddTask("grid", Echo(), {{"grid", InputBinding::Gather("sq", "y")}}).ok());
  ASSERT_TRUE(made->AddOutput("grid", "grid", "out").ok());
  RunRecord run = RunIt(*client, *made, Json::object());
  ASSERT_EQ(run.state, "succeeded") << run.error;
  EXPECT_EQ(run.outputs["grid"], Json::parse("[[100, 121], [100, 121, 144]]"));
  auto tasks = client->ListTasks(run.id).value();
  EXPECT_EQ(FindTask(tasks, "make[1]")->outputs["parameters"]["items"],
            Json::parse("[10, 11, 12]"));
  EXPECT_EQ(FindTask(tasks, "sq[1][2]")->state, "succeeded");
}

TEST_F(NestedLoop, ParallelismHoldsAtEachLevel) {
  const Json rows = Json::parse("[[1, 2, 3], [4, 5, 6], [7, 8, 9]]");
  {
    // One row at a time, two cells of it at once.
    Counters limited_c;
    auto limited = Grid(&limited_c, 1, 2, 20);
    ASSERT_TRUE(limited.ok()) << limited.status();
    RunRecord run = RunIt(*client, *limited, {{"rows", rows}});
    EXPECT_EQ(run.state, "succeeded") << run.error;
    EXPECT_EQ(limited_c.calls.load(), 9);
    EXPECT_LE(limited_c.max_running.load(), 2);
  }
  {
    // One cell per row at a time, every row at once.
    Counters limited_c;
    auto limited = Grid(&limited_c, 0, 1, 20);
    ASSERT_TRUE(limited.ok()) << limited.status();
    RunRecord run = RunIt(*client, *limited, {{"rows", rows}});
    EXPECT_EQ(run.state, "succeeded") << run.error;
    EXPECT_LE(limited_c.max_running.load(), 3);
  }
}

TEST_F(NestedLoop, AFailingCellNamesItAndResumeRunsOnlyIt) {
  c.fail_item = 5;
  RunRecord first = RunIt(*client, *p, {{"rows", kRows}});
  ASSERT_EQ(first.state, "failed");
  EXPECT_HAS(first.error, "ParallelFor 'rows' iteration 3");
  EXPECT_HAS(first.error, "ParallelFor 'cells[3]' iteration 1");
  EXPECT_HAS(first.error, "task 'sq[3][1]'");
  EXPECT_HAS(first.error, "item 5 is bad");
  auto tasks = client->ListTasks(first.id).value();
  EXPECT_EQ(FindTask(tasks, "sq[3][1]")->state, "failed");
  EXPECT_EQ(FindTask(tasks, "sq[3][2]")->state, "succeeded");
  EXPECT_EQ(FindTask(tasks, "row_sum[3]")->state, "skipped");
  EXPECT_EQ(FindTask(tasks, "row_sum[0]")->state, "succeeded");
  EXPECT_EQ(FindTask(tasks, "total")->state, "skipped");

  c.fail_item = -1;
  c.calls = 0;
  RunRecord resumed = RunIt(*client, *p, Json::object(), false, first.id);
  ASSERT_EQ(resumed.state, "succeeded") << resumed.error;
  EXPECT_EQ(c.calls.load(), 1);  // only sq[3][1]
  EXPECT_EQ(resumed.outputs["total"], Json(91));
  tasks = client->ListTasks(resumed.id).value();
  EXPECT_EQ(tasks.size(), 1u + 4u + 4u + 6u + 2u);
}

TEST_F(NestedLoop, InnerIterationsHitTheCacheOneByOne) {
  RunRecord a = RunIt(*client, *p, {{"rows", kRows}}, true);
  ASSERT_EQ(a.state, "succeeded") << a.error;
  EXPECT_EQ(c.calls.load(), 6);
  RunRecord b = RunIt(*client, *p, {{"rows", Json::parse("[[1, 2], [3, 7]]")}}, true);
  ASSERT_EQ(b.state, "succeeded") << b.error;
  EXPECT_EQ(c.calls.load(), 7);  // only 7 is new
  auto tasks = client->ListTasks(b.id).value();
  EXPECT_EQ(FindTask(tasks, "sq[1][0]")->state, "cached");
  EXPECT_EQ(FindTask(tasks, "sq[1][1]")->state, "succeeded");
  EXPECT_EQ(b.outputs["grid"], Json::parse("[[1, 4], [9, 49]]"));
}

TEST_F(NestedLoop, MistakesAreCaughtWhenDefined) {
  auto bad = Pipeline::Create("bad", {{"rows", ValueType::kList}});
  ASSERT_TRUE(bad.ok());
  ASSERT_TRUE(bad->AddLoop("a", InputBinding::Parameter("rows")).ok());
  ASSERT_TRUE(bad->AddLoop("b", InputBinding::Parameter("rows")).ok());
  // Unknown parent; the item of a loop it is not nested in.
  EXPECT_HAS(std::string(bad->AddLoop("c", InputBinding::Parameter("rows"), 0, "zz").message()),
             "nested in unknown ParallelFor 'zz'");
  Status st = bad->AddLoop("c", InputBinding::LoopItem("b"), 0, "a");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(st.message()), "item of ParallelFor 'b', which it is not nested in");
  ASSERT_TRUE(bad->AddLoop("a-in", InputBinding::LoopItem("a"), 0, "a").ok());
  TaskOptions in_a_in;
  in_a_in.loop = "a-in";
  ASSERT_TRUE(
      bad->AddTask("sq", CountingSquare(&c), {{"x", InputBinding::LoopItem("a-in")}}, in_a_in)
          .ok());
  // A task of b reading the item of a (a sibling), or collecting a's nested task from b.
  TaskOptions in_b;
  in_b.loop = "b";
  st = bad->AddTask("t1", CountingSquare(&c), {{"x", InputBinding::LoopItem("a")}}, in_b);
  EXPECT_HAS(std::string(st.message()), "uses the item of ParallelFor 'a' outside its body");
  st = bad->AddTask("t2", SumOf("s"), {{"values", InputBinding::Gather("sq", "y")}}, in_b);
  EXPECT_HAS(std::string(st.message()), "which is not nested in this task's ParallelFor 'b'");
  // Inside the inner loop, collecting its own task.
  st = bad->AddTask("t3", SumOf("s"), {{"values", InputBinding::Gather("sq", "y")}}, in_a_in);
  EXPECT_HAS(std::string(st.message()), "inside its own ParallelFor 'a-in'");
  // A task of the inner body reading the outer item is fine.
  ASSERT_TRUE(
      bad->AddTask("t4", CountingSquare(&c), {{"x", InputBinding::LoopItem("a")}}, in_a_in).ok());
  // Reading a nested task's single output from outside the loops.
  st = bad->AddTask("t5", CountingSquare(&c), {{"x", InputBinding::Output("sq", "y")}});
  EXPECT_HAS(std::string(st.message()), "gather its outputs into a list with Collected");
}

}  // namespace
}  // namespace mlcore::pipeline::testing

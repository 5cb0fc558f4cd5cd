#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Cmd;
using testing::FindTask;
using testing::Fn;
using testing::ReadAll;
using testing::ScratchHome;

// load (writes a Dataset) -> train (reads it, writes a Model, returns a float) -> the outputs.
StatusOr<Pipeline> TrainPipeline(std::atomic<int>* train_calls) {
  auto load =
      Fn("load", {{"n", ValueType::kInt}}, {{"data", ValueType::kDataset}}, [](TaskContext& ctx) {
        std::ofstream out(ctx.outputs["data"].path);
        for (int i = 0; i < ctx.params["n"].get<int>(); ++i) out << i << "\n";
        ctx.outputs["data"].metadata["rows"] = ctx.params["n"];
        return absl::OkStatus();
      });
  auto train = Fn("train", {{"data", ValueType::kDataset}, {"lr", ValueType::kFloat, Json(0.5)}},
                  {{"model", ValueType::kModel}, {"loss", ValueType::kFloat}},
                  [train_calls](TaskContext& ctx) {
                    ++*train_calls;
                    std::string data = ReadAll(ctx.inputs["data"].path);
                    std::ofstream(ctx.outputs["model"].path) << "weights:" << data.size();
                    ctx.output_params["loss"] = ctx.params["lr"].get<double>() * 2;
                    return absl::OkStatus();
                  });
  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("train", {{"n", ValueType::kInt, Json(5)}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("load", load, {{"n", InputBinding::Parameter("n")}}));
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("train", train, {{"data", InputBinding::Output("load", "data")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("loss", "train", "loss"));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("model", "train", "model"));
  return p;
}

TEST(Executor, RunsRecordsArtifactsAndLineage) {
  ScratchHome home;
  auto client = home.Open();
  std::atomic<int> calls{0};
  auto p = TrainPipeline(&calls);
  ASSERT_TRUE(p.ok()) << p.status();
  RunOptions o;
  o.experiment = "exp";
  o.arguments = {{"n", 4}};
  auto run = client->Run(*p, o);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->error;
  EXPECT_EQ(run->outputs["loss"], Json(1.0));
  EXPECT_EQ(run->experiment, "exp");
  EXPECT_EQ(run->arguments["n"], Json(4));
  auto tasks = client->ListTasks(run->id);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ(FindTask(*tasks, "load")->state, "succeeded");
  EXPECT_EQ(FindTask(*tasks, "train")->attempts, 1);

  auto artifacts = client->ListArtifacts(run->id);
  ASSERT_TRUE(artifacts.ok());
  ASSERT_EQ(artifacts->size(), 2u);
  const ArtifactRecord& data = (*artifacts)[0];
  EXPECT_EQ(data.task, "load");
  EXPECT_EQ(data.type, "Dataset");
  EXPECT_EQ(data.metadata["rows"], Json(4));
  EXPECT_EQ(client->artifacts().Get(data.digest).value(), "0\n1\n2\n3\n");
  auto consumers = client->ArtifactConsumers(data.id);
  ASSERT_TRUE(consumers.ok());
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ((*consumers)[0].task, "train");
  EXPECT_EQ((*consumers)[0].input, "data");
  EXPECT_EQ(client->artifacts().Get(run->outputs["model"]["digest"].get<std::string>()).value(),
            "weights:8");

  auto runs = client->ListRuns({.experiment = "exp"});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 1u);
  EXPECT_EQ(client->ListRuns({.experiment = "other"})->size(), 0u);
  // Another namespace sees none of it.
  auto other = home.Open("team-b");
  EXPECT_EQ(other->ListRuns()->size(), 0u);
}

TEST(Executor, CacheHitsSurviveRestartAndCodeChangesInvalidate) {
  ScratchHome home;
  std::atomic<int> calls{0};
  auto p = TrainPipeline(&calls);
  ASSERT_TRUE(p.ok());
  {
    auto client = home.Open();
    ASSERT_EQ(client->Run(*p, {})->state, "succeeded");
  }
  EXPECT_EQ(calls.load(), 1);
  auto client = home.Open();
  auto run = client->Run(*p, {});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, "succeeded");
  EXPECT_EQ(calls.load(), 1);
  auto tasks = client->ListTasks(run->id).value();
  EXPECT_EQ(FindTask(tasks, "load")->state, "cached");
  EXPECT_EQ(FindTask(tasks, "train")->state, "cached");
  EXPECT_EQ(run->outputs["loss"], Json(1.0));
  // Other arguments: a miss. Caching disabled: a miss.
  ASSERT_EQ(client->Run(*p, {.arguments = {{"n", 7}}})->state, "succeeded");
  EXPECT_EQ(calls.load(), 2);
  ASSERT_EQ(client->Run(*p, {.enable_caching = false})->state, "succeeded");
  EXPECT_EQ(calls.load(), 3);
  // A new code version of train: a miss for train, a hit for load.
  auto edited = std::make_shared<Component>(*p->FindTask("train")->component);
  edited->code_version = "2";
  auto p2 = Pipeline::Create("train", {{"n", ValueType::kInt, Json(5)}});
  ASSERT_TRUE(
      p2->AddTask("load", p->FindTask("load")->component, {{"n", InputBinding::Parameter("n")}})
          .ok());
  ASSERT_TRUE(p2->AddTask("train", edited, {{"data", InputBinding::Output("load", "data")}}).ok());
  auto run2 = client->Run(*p2, {});
  EXPECT_EQ(calls.load(), 4);
  tasks = client->ListTasks(run2->id).value();
  EXPECT_EQ(FindTask(tasks, "load")->state, "cached");
  EXPECT_EQ(FindTask(tasks, "train")->state, "succeeded");
}

TEST(Executor, CommandTasksWithPlaceholdersAndLogs) {
  ScratchHome home;
  auto client = home.Open();
  auto make =
      Cmd("make", {{"word", ValueType::kString}, {"times", ValueType::kInt}},
          {{"text", ValueType::kDataset}, {"count", ValueType::kInt}},
          "for i in $(seq {{inputs.parameters.times}}); do echo {{inputs.parameters.word}}; "
          "done > {{outputs.artifacts.text.path}}; echo made; echo warn >&2; "
          "echo '{\"k\": 1}' > {{outputs.artifacts.text.path}}.metadata.json; "
          "echo {{inputs.parameters.times}} > {{outputs.parameters.count.path}}");
  auto count = Cmd("count", {{"text", ValueType::kDataset}}, {{"lines", ValueType::kInt}},
                   "wc -l < {{inputs.artifacts.text.path}} > {{outputs.parameters.lines.path}}");
  auto p = Pipeline::Create("cmd");
  ASSERT_TRUE(p->AddTask("make", make,
                         {{"word", InputBinding::Constant("hi there")},
                          {"times", InputBinding::Constant(3)}})
                  .ok());
  ASSERT_TRUE(p->AddTask("count", count, {{"text", InputBinding::Output("make", "text")}}).ok());
  auto run = client->Run(*p, {});
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->state, "succeeded") << run->error;
  auto tasks = client->ListTasks(run->id).value();
  const TaskRecord* m = FindTask(tasks, "make");
  EXPECT_EQ(ReadAll(m->stdout_path), "made\n");
  EXPECT_EQ(ReadAll(m->stderr_path), "warn\n");
  EXPECT_EQ(m->outputs["parameters"]["count"], Json(3));
  EXPECT_EQ(m->outputs["artifacts"]["text"]["metadata"]["k"], Json(1));
  EXPECT_EQ(FindTask(tasks, "count")->outputs["parameters"]["lines"], Json(3));
}

TEST(Executor, FailureNamesTheTaskSkipsDownstreamAndIndependentBranchesFinish) {
  ScratchHome home;
  auto client = home.Open();
  auto boom = Cmd("boom", {}, {{"x", ValueType::kInt}}, "echo bad thing >&2; exit 3");
  auto after = Cmd("after", {{"x", ValueType::kInt}}, {}, "true");
  auto other = Cmd("other", {}, {}, "sleep 0.2");
  auto p = Pipeline::Create("f");
  ASSERT_TRUE(p->AddTask("boom", boom).ok());
  ASSERT_TRUE(p->AddTask("after", after, {{"x", InputBinding::Output("boom", "x")}}).ok());
  ASSERT_TRUE(p->AddTask("other", other).ok());
  auto run = client->Run(*p, {.max_parallelism = 2});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, "failed");
  EXPECT_HAS(run->error,
             "task 'boom' (component 'boom') failed after 1 attempt: exited with "
             "status 3");
  EXPECT_HAS(run->error, "bad thing");
  auto tasks = client->ListTasks(run->id).value();
  EXPECT_EQ(FindTask(tasks, "after")->state, "skipped");
  EXPECT_EQ(FindTask(tasks, "other")->state, "succeeded");
}

TEST(Executor, SegfaultTimeoutAndRetries) {
  ScratchHome home;
  auto client = home.Open();
  auto segv = Cmd("segv", {}, {}, "kill -SEGV $$");
  auto slow = Cmd("slow", {}, {}, "sleep 30 & sleep 30");
  slow->timeout = absl::Milliseconds(300);
  // Fails twice, then succeeds: a counter file in the task's directory survives attempts.
  auto flaky = Cmd("flaky", {}, {},
                   "n=$(cat ../n 2>/dev/null || echo 0); echo $((n+1)) > ../n; "
                   "[ $n -ge 2 ]");
  flaky->retry.max_retries = 3;
  flaky->retry.backoff = absl::Milliseconds(10);
  auto p = Pipeline::Create("faults");
  ASSERT_TRUE(p->AddTask("segv", segv).ok());
  ASSERT_TRUE(p->AddTask("slow", slow).ok());
  ASSERT_TRUE(p->AddTask("flaky", flaky).ok());
  auto start = std::chrono::steady_clock::now();
  auto run = client->Run(*p, {.max_parallelism = 3});
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, "failed");
  auto tasks = client->ListTasks(run->id).value();
  EXPECT_HAS(FindTask(tasks, "segv")->error, "killed by signal 11");
  EXPECT_HAS(FindTask(tasks, "slow")->error, "timed out after 300ms");
  EXPECT_EQ(FindTask(tasks, "flaky")->state, "succeeded");
  EXPECT_EQ(FindTask(tasks, "flaky")->attempts, 3);
  // The background sleep in the killed process group did not keep the run alive.
  EXPECT_LT(elapsed, std::chrono::seconds(10));
}

TEST(Executor, CorruptedArtifactIsDetectedOnRead) {
  ScratchHome home;
  auto client = home.Open();
  std::atomic<int> calls{0};
  auto p = TrainPipeline(&calls);
  auto run = client->Run(*p, {});
  ASSERT_EQ(run->state, "succeeded");
  auto artifacts = client->ListArtifacts(run->id).value();
  std::string path = client->artifacts().PathFor(artifacts[0].digest).value();
  ::chmod(path.c_str(), 0644);
  std::ofstream(path, std::ios::trunc) << "tampered";
  // Resume-free rerun without the cache: load rewrites the same content (repairing the file
  // would hide the damage), so check a run that reads the recorded artifact: the cached load.
  auto run2 = client->Run(*p, {});
  ASSERT_TRUE(run2.ok());
  // load is cached (its recorded output still exists by name), train's cache entry too; the
  // digest check happens when train's inputs are resolved, before the cache lookup.
  EXPECT_EQ(run2->state, "failed");
  EXPECT_HAS(run2->error, "task 'train': input artifact 'data' (from load.data) is unusable");
  EXPECT_HAS(run2->error, "sha256");
}

TEST(Executor, ResumeRunsOnlyWhatDidNotFinish) {
  ScratchHome home;
  auto client = home.Open();
  std::string flag = home.path() + "/allow";
  auto first = Cmd("first", {}, {{"v", ValueType::kInt}},
                   "echo x >> ../../count; echo 5 > {{outputs.parameters.v.path}}");
  auto second = Cmd("second", {{"v", ValueType::kInt}}, {}, "test -f " + flag);
  auto p = Pipeline::Create("resumable");
  ASSERT_TRUE(p->AddTask("first", first).ok());
  ASSERT_TRUE(p->AddTask("second", second, {{"v", InputBinding::Output("first", "v")}}).ok());
  auto run = client->Run(*p, {.enable_caching = false});
  ASSERT_EQ(run->state, "failed");
  std::ofstream(flag) << "ok";
  auto resumed = client->Run(*p, {.enable_caching = false, .resume_run_id = run->id});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->id, run->id);
  EXPECT_EQ(resumed->state, "succeeded") << resumed->error;
  // first ran once in total (its working directory is <home>/pipeline/runs/<run>/first).
  EXPECT_EQ(ReadAll(home.path() + "/pipeline/runs/count"), "x\n");
  auto second_again = client->Run(*p, {.resume_run_id = run->id});
  EXPECT_EQ(second_again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Executor, KilledProcessRunIsInterruptedThenResumed) {
  ScratchHome home;
  std::string marker = home.path() + "/started";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto client = home.Open();
    auto slow = Cmd("slow", {}, {}, "touch " + marker + "; sleep 60");
    auto p = Pipeline::Create("killme");
    (void)p->AddTask("slow", slow);
    (void)client->Run(*p, {});
    _exit(0);
  }
  for (int i = 0; i < 1000 && access(marker.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(access(marker.c_str(), F_OK), 0);
  ::kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  auto client = home.Open();
  auto runs = client->ListRuns().value();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, "interrupted");
  EXPECT_HAS(runs[0].error, "ended before it finished");
  EXPECT_EQ(client->ListTasks(runs[0].id).value()[0].state, "interrupted");
  // Resume it with a timeout (not part of the definition digest, so the same version).
  auto slow = Cmd("slow", {}, {}, "touch " + marker + "; sleep 60");
  slow->timeout = absl::Milliseconds(200);
  auto p = Pipeline::Create("killme");
  ASSERT_TRUE(p->AddTask("slow", slow).ok());
  auto resumed = client->Run(*p, {.resume_run_id = runs[0].id});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state, "failed");
  EXPECT_HAS(resumed->error, "timed out");
}

TEST(Executor, TwoProcessesShareOneStore) {
  ScratchHome home;
  std::vector<pid_t> children;
  for (int k = 0; k < 2; ++k) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto client = home.Open();
      bool ok = client != nullptr;
      for (int r = 0; r < 3 && ok; ++r) {
        auto step = Cmd("step", {{"i", ValueType::kInt}}, {{"o", ValueType::kDataset}},
                        "echo {{inputs.parameters.i}} > {{outputs.artifacts.o.path}}");
        auto p = Pipeline::Create("shared");
        for (int t = 0; t < 4; ++t) {
          ok = ok && p->AddTask("t" + std::to_string(t), step,
                                {{"i", InputBinding::Constant(k * 100 + r * 10 + t)}})
                         .ok();
        }
        auto run = client->Run(*p, {.max_parallelism = 2});
        ok = ok && run.ok() && run->state == "succeeded";
      }
      _exit(ok ? 0 : 1);
    }
    children.push_back(child);
  }
  for (pid_t c : children) {
    int status = 0;
    waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto client = home.Open();
  auto runs = client->ListRuns().value();
  EXPECT_EQ(runs.size(), 6u);
  for (const RunRecord& r : runs) EXPECT_EQ(r.state, "succeeded");
}

TEST(Executor, GpuTasksSeeOnlyTheirDevice) {
  ScratchHome home;
  auto client = home.Open();
  auto gpu = Cmd("gpu", {{"i", ValueType::kInt}}, {{"seen", ValueType::kString}},
                 "printf '%s' \"$CUDA_VISIBLE_DEVICES\" > {{outputs.parameters.seen.path}}");
  gpu->resources.gpu = 1;
  auto cpu = Cmd("cpu", {}, {{"seen", ValueType::kString}},
                 "printf '%s' \"$CUDA_VISIBLE_DEVICES\" > {{outputs.parameters.seen.path}}");
  auto p = Pipeline::Create("gpus");
  ASSERT_TRUE(p->AddTask("a", gpu, {{"i", InputBinding::Constant(1)}}).ok());
  ASSERT_TRUE(p->AddTask("b", gpu, {{"i", InputBinding::Constant(2)}}).ok());
  ASSERT_TRUE(p->AddTask("c", cpu).ok());
  // Two (declared) devices; no physical GPU is needed to check the assignment.
  auto run = client->Run(*p, {.max_parallelism = 3, .gpu_slots = 2, .enable_caching = false});
  ASSERT_EQ(run->state, "succeeded") << run->error;
  auto tasks = client->ListTasks(run->id).value();
  std::string a = FindTask(tasks, "a")->outputs["parameters"]["seen"].get<std::string>();
  std::string b = FindTask(tasks, "b")->outputs["parameters"]["seen"].get<std::string>();
  EXPECT_TRUE(a == "0" || a == "1") << a;
  EXPECT_TRUE(b == "0" || b == "1") << b;
  EXPECT_EQ(FindTask(tasks, "c")->outputs["parameters"]["seen"], "");
  // No devices at all: a GPU task fails with a message, the CPU task still runs.
  auto none = client->Run(*p, {.gpu_slots = 0, .enable_caching = false});
  EXPECT_EQ(none->state, "failed");
  EXPECT_HAS(none->error, "task 'a' cannot run: needs 1 GPU(s) but only 0 exist");
  EXPECT_EQ(FindTask(client->ListTasks(none->id).value(), "c")->state, "succeeded");
}

TEST(Executor, CollectGathersOutputsIntoAList) {
  ScratchHome home;
  auto client = home.Open();
  auto square = Cmd("square", {{"x", ValueType::kInt}}, {{"y", ValueType::kInt}},
                    "echo $(({{inputs.parameters.x}} * {{inputs.parameters.x}})) > "
                    "{{outputs.parameters.y.path}}");
  auto sum =
      Fn("sum", {{"values", ValueType::kList}}, {{"total", ValueType::kInt}}, [](TaskContext& ctx) {
        int total = 0;
        for (const Json& v : ctx.params["values"]) total += v.get<int>();
        ctx.output_params["total"] = total;
        return absl::OkStatus();
      });
  auto p = Pipeline::Create("gather", {{"extra", ValueType::kInt, Json(100)}});
  std::vector<InputBinding> items;
  for (int i = 1; i <= 3; ++i) {
    std::string name = "square-" + std::to_string(i);
    ASSERT_TRUE(p->AddTask(name, square, {{"x", InputBinding::Constant(i)}}).ok());
    items.push_back(InputBinding::Output(name, "y"));
  }
  items.push_back(InputBinding::Parameter("extra"));
  items.push_back(InputBinding::Constant(1000));
  ASSERT_TRUE(p->AddTask("sum", sum, {{"values", InputBinding::Collect(items)}}).ok());
  EXPECT_EQ(p->FindTask("sum")->Upstream().size(), 3u);
  ASSERT_TRUE(p->AddOutput("total", "sum", "total").ok());
  auto run = client->Run(*p, {});
  ASSERT_EQ(run->state, "succeeded") << run->error;
  EXPECT_EQ(run->outputs["total"], Json(1 + 4 + 9 + 100 + 1000));
  // Gathering into a non-list input is refused when defining.
  auto one = Fn("one", {{"x", ValueType::kInt}}, {}, [](TaskContext&) { return absl::OkStatus(); });
  Status st = p->AddTask("bad", one, {{"x", InputBinding::Collect(items)}});
  EXPECT_HAS(std::string(st.message()), "only a list input can gather");
}

TEST(Executor, ConditionsAndExitHandler) {
  ScratchHome home;
  auto client = home.Open();
  auto flip = Cmd("flip", {}, {{"side", ValueType::kString}},
                  "echo heads > {{outputs.parameters.side.path}}");
  auto say = Cmd("say", {}, {}, "true");
  auto boom = Cmd("boom", {}, {}, "exit 1");
  auto p = Pipeline::Create("cond");
  ASSERT_TRUE(p->AddTask("flip", flip).ok());
  TaskOptions heads, tails;
  heads.conditions = {{InputBinding::Output("flip", "side"), "==", "heads"}};
  tails.conditions = {{InputBinding::Output("flip", "side"), "==", "heads", /*negate=*/true}};
  ASSERT_TRUE(p->AddTask("heads", say, {}, heads).ok());
  ASSERT_TRUE(p->AddTask("tails", say, {}, tails).ok());
  ASSERT_TRUE(p->AddTask("boom", boom).ok());
  TaskOptions exit_opts;
  exit_opts.run_always = true;
  ASSERT_TRUE(p->AddTask("cleanup", say, {}, exit_opts).ok());
  for (const char* up : {"flip", "heads", "tails", "boom"})
    ASSERT_TRUE(p->After("cleanup", up).ok());
  // Without the cache: heads, tails and cleanup are one component with the same inputs.
  auto run = client->Run(*p, {.enable_caching = false});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, "failed");
  auto tasks = client->ListTasks(run->id).value();
  EXPECT_EQ(FindTask(tasks, "heads")->state, "succeeded");
  EXPECT_EQ(FindTask(tasks, "tails")->state, "skipped");
  EXPECT_EQ(FindTask(tasks, "cleanup")->state, "succeeded");
}

}  // namespace
}  // namespace mlcore::pipeline

// One suite, two backends: pipelines (runs, tasks, cache, lineage, artifacts' records), the
// scheduler of recurring runs and the model registry on the SQLite file and on a real
// PostgreSQL cluster (scripts/pg-test-cluster.sh), chosen by MLCORE_STORE or a home URL. Plus
// PostgreSQL's own cases: two driver processes resuming each other's runs, a server restart in
// the middle of a run, two scheduler processes on one database.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/schedule.h"
#include "mlcore/registry/model_registry.h"
#include "pipeline/backend_test_util.h"
#include "pipeline/pipeline_test_util.h"
#include "store/postgres_test_util.h"

namespace mlcore::pipeline {
namespace {

namespace fs = std::filesystem;
using store::testing::PgCluster;
using testing::FindTask;
using testing::Fn;
using testing::RunInChild;
using testing::ScratchHome;

class StoreBackends : public testing::BackendTest {
 protected:
  ScratchHome home_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreBackends, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// load (a Dataset artifact) -> train (reads it; a Model and a float). `go`: train fails unless
// this file exists. Task calls are counted in files (drivers are separate processes).
Pipeline TrainPipeline(const std::string& dir) {
  auto load =
      Fn("load", {{"n", ValueType::kInt}}, {{"data", ValueType::kDataset}}, [dir](TaskContext& c) {
        std::ofstream(dir + "/load.calls", std::ios::app) << "x";
        std::ofstream out(c.outputs["data"].path);
        for (int i = 0; i < c.params["n"].get<int>(); ++i) out << i << "\n";
        return absl::OkStatus();
      });
  auto train = Fn("train", {{"data", ValueType::kDataset}},
                  {{"model", ValueType::kModel}, {"loss", ValueType::kFloat}},
                  [dir](TaskContext& c) -> Status {
                    std::ofstream(dir + "/train.calls", std::ios::app) << "x";
                    if (!fs::exists(dir + "/go")) return absl::UnavailableError("no go file");
                    std::ofstream(c.outputs["model"].path)
                        << "weights:" << testing::ReadAll(c.inputs["data"].path).size();
                    c.output_params["loss"] = 0.25;
                    return absl::OkStatus();
                  });
  Pipeline p = *Pipeline::Create("train", {{"n", ValueType::kInt, Json(5)}});
  EXPECT_TRUE(p.AddTask("load", load, {{"n", InputBinding::Parameter("n")}}).ok());
  EXPECT_TRUE(p.AddTask("train", train, {{"data", InputBinding::Output("load", "data")}}).ok());
  EXPECT_TRUE(p.AddOutput("loss", "train", "loss").ok());
  EXPECT_TRUE(p.AddOutput("model", "train", "model").ok());
  return p;
}

size_t Calls(const std::string& dir, const std::string& task) {
  return testing::ReadAll(dir + "/" + task + ".calls").size();
}

TEST_P(StoreBackends, RunsTasksArtifactsLineageAndTheCache) {
  std::ofstream(home_.path() + "/go") << "";
  auto client = home_.Open();
  ASSERT_NE(client, nullptr);
  Pipeline p = TrainPipeline(home_.path());
  RunRecord first = testing::RunIt(*client, p, {{"n", 4}}, /*caching=*/true);
  EXPECT_EQ(first.state, "succeeded") << first.error;
  EXPECT_EQ(first.outputs["loss"], Json(0.25));
  RunRecord second = testing::RunIt(*client, p, {{"n", 4}}, /*caching=*/true);
  EXPECT_EQ(second.state, "succeeded") << second.error;
  EXPECT_EQ(Calls(home_.path(), "train"), 1u);  // the second run's tasks came from the cache
  auto tasks = client->ListTasks(second.id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].name, "load");  // in the order they were listed
  EXPECT_EQ(FindTask(*tasks, "train")->state, "cached");
  auto artifacts = client->ListArtifacts(first.id);
  ASSERT_TRUE(artifacts.ok()) << artifacts.status();
  ASSERT_EQ(artifacts->size(), 2u);
  EXPECT_EQ((*artifacts)[0].output, "data");
  EXPECT_EQ(client->artifacts().Get((*artifacts)[0].digest).value(), "0\n1\n2\n3\n");
  auto got = client->GetArtifact((*artifacts)[0].id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->digest, (*artifacts)[0].digest);
  EXPECT_EQ(first.outputs["model"]["id"], Json((*artifacts)[1].id));
  auto consumers = client->ArtifactConsumers((*artifacts)[0].id);
  ASSERT_TRUE(consumers.ok()) << consumers.status();
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ((*consumers)[0].task, "train");
  auto runs = client->ListRuns();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].id, first.id);
  RunFilter newest;
  newest.newest_first = true;
  newest.state = "succeeded";
  EXPECT_EQ(client->ListRuns(newest)->at(0).id, second.id);
  EXPECT_EQ(*client->ResolveRunId(first.id.substr(0, 12)), first.id);
  EXPECT_EQ(*client->GetRunSpec(first.id), *client->GetRunSpec(second.id));
  // The records went where the backend says, and only there.
  EXPECT_EQ(fs::exists(home_.path() + "/mlcore.db"), GetParam() == "sqlite");
}

TEST_P(StoreBackends, TwoDriverProcessesResumeAndInspectEachOthersRuns) {
  const std::string dir = home_.path();
  // Driver 1 (a process of its own) runs the pipeline; train fails (no go file).
  int code = RunInChild([&] {
    auto client = home_.Open();
    if (client == nullptr) return 10;
    RunRecord r = testing::RunIt(*client, TrainPipeline(dir), {{"n", 3}});
    return r.state == "failed" ? 0 : 11;
  });
  ASSERT_EQ(code, 0);
  // Driver 2 finds that run and resumes it: load is not run again.
  std::ofstream(dir + "/go") << "";
  auto client = home_.Open();
  ASSERT_NE(client, nullptr);
  auto runs = client->ListRuns();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  const std::string run_id = (*runs)[0].id;
  EXPECT_EQ((*runs)[0].state, "failed");
  RunRecord resumed = testing::RunIt(*client, TrainPipeline(dir), {{"n", 3}}, false, run_id);
  EXPECT_EQ(resumed.id, run_id);
  EXPECT_EQ(resumed.state, "succeeded") << resumed.error;
  EXPECT_EQ(Calls(dir, "load"), 1u);
  EXPECT_EQ(Calls(dir, "train"), 2u);
  client.reset();
  // Driver 1 again, a new process, sees the resumed run's records.
  code = RunInChild([&] {
    auto c = home_.Open();
    if (c == nullptr) return 10;
    auto run = c->GetRun(run_id);
    if (!run.ok() || run->state != "succeeded") return 12;
    auto tasks = c->ListTasks(run_id);
    if (!tasks.ok() || tasks->size() != 2) return 13;
    for (const TaskRecord& t : *tasks) {
      if (t.state != "succeeded") return 14;
    }
    return c->ListArtifacts(run_id)->size() == 2 ? 0 : 15;
  });
  EXPECT_EQ(code, 0);
}

// Two scheduler processes tick one schedule over 30 due minutes: each time fires once.
TEST_P(StoreBackends, TwoSchedulerProcessesFireEachTimeOnce) {
  static bool registered = [] {
    EXPECT_TRUE(RegisterPipeline("backends-noop", []() -> StatusOr<Pipeline> {
                  auto noop = Fn("noop", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
                  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("backends-noop"));
                  MLCORE_RETURN_IF_ERROR(p.AddTask("noop", noop));
                  return p;
                }).ok());
    return true;
  }();
  (void)registered;
  absl::Time start, now;
  ASSERT_TRUE(
      absl::ParseTime("%Y-%m-%d %H:%M", "2024-01-01 00:00", absl::UTCTimeZone(), &start, nullptr));
  now = start + absl::Minutes(30);
  {
    auto client = home_.Open();
    ASSERT_NE(client, nullptr);
    auto schedules = Schedules::Open(client.get());
    ASSERT_TRUE(schedules.ok()) << schedules.status();
    ASSERT_TRUE((*schedules)
                    ->Create(testing::MinutelyCatchingUp("shared", "backends-noop", start, 0))
                    .ok());
  }
  auto scheduler_process = [&](int which) {
    return [&, which]() -> int {
      auto client = home_.Open();
      if (client == nullptr) return 10;
      SchedulerOptions so;
      so.now = [now] { return now; };
      auto scheduler = Scheduler::Create(client.get(), so);
      if (!scheduler.ok()) return 11;
      std::ofstream out(absl::StrCat(home_.path(), "/fired.", which));
      for (int tick = 0; tick < 30; ++tick) {
        auto fires = (*scheduler)->Tick();
        if (!fires.ok()) {
          out << "error " << fires.status() << "\n";
          return 12;
        }
        for (const ScheduleFire& f : *fires) out << absl::ToUnixSeconds(f.scheduled_time) << "\n";
        out.flush();
      }
      scheduler->reset();
      return 0;
    };
  };
  pid_t a = 0, b = 0;
  std::thread ta([&] { EXPECT_EQ(RunInChild(scheduler_process(0), &a), 0); });
  std::thread tb([&] { EXPECT_EQ(RunInChild(scheduler_process(1), &b), 0); });
  ta.join();
  tb.join();
  std::multiset<std::string> fired;
  for (int which : {0, 1}) {
    for (absl::string_view line :
         absl::StrSplit(testing::ReadAll(absl::StrCat(home_.path(), "/fired.", which)), '\n',
                        absl::SkipEmpty())) {
      fired.insert(std::string(line));
    }
  }
  EXPECT_EQ(fired.size(), 30u);
  EXPECT_EQ(std::set<std::string>(fired.begin(), fired.end()).size(), fired.size())
      << "a time fired twice";
}

TEST_P(StoreBackends, ModelRegistryVersionsAliasesAndPipelineLineage) {
  std::ofstream(home_.path() + "/go") << "";
  auto client = home_.Open();
  ASSERT_NE(client, nullptr);
  RunRecord run = testing::RunIt(*client, TrainPipeline(home_.path()), {{"n", 2}});
  ASSERT_EQ(run.state, "succeeded") << run.error;
  registry::ModelRegistryOptions ro;
  ro.home = home_.path();
  ro.sync_artifacts = false;
  auto opened = registry::ModelRegistry::Open(ro);
  ASSERT_TRUE(opened.ok()) << opened.status();
  registry::ModelRegistry& reg = **opened;
  const std::string dir = home_.path() + "/model";
  fs::create_directories(dir);
  std::ofstream(dir + "/weights.bin") << "one";
  auto v1 = reg.Register("digits", dir);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  auto v2 = reg.Register("digits", absl::StrCat("run://", run.id, "/train/model"));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->lineage.run_id, run.id);
  EXPECT_EQ(v2->lineage.artifact_id, run.outputs["model"]["id"].get<int64_t>());
  ASSERT_TRUE(reg.SetAlias("digits", "prod", 2).ok());
  EXPECT_EQ(reg.Resolve("digits@prod")->version, 2);
  EXPECT_EQ(reg.DeleteVersion("digits", 2, false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(reg.DeleteAlias("digits", "prod").ok());
  EXPECT_EQ(reg.DeleteAlias("digits", "prod").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(reg.DeleteVersion("digits", 2, false).ok());
  EXPECT_EQ(reg.DeleteVersion("digits", 2, false).code(), absl::StatusCode::kNotFound);
  auto v3 = reg.Register("digits", dir);
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_EQ(v3->version, 3);  // numbers are not reused after a delete
  auto models = reg.ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 1u);
}

// The home itself a URL (mlcore.run(..., home="postgresql://...")): records on the server,
// files in $MLCORE_HOME.
TEST(PostgresPipelines, HomeUrlKeepsRecordsOnTheServerAndFilesInMlcoreHome) {
  PgCluster* cluster = PgCluster::Get();
  if (cluster == nullptr) GTEST_SKIP() << PgCluster::skip_reason();
  const std::string url = cluster->NewDatabase();
  ScratchHome files;
  setenv("MLCORE_HOME", files.path().c_str(), 1);
  std::ofstream(files.path() + "/go") << "";
  ClientOptions o;
  o.home = url;
  o.sync_artifacts = false;
  auto client = Client::Open(o);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->home(), files.path());
  EXPECT_EQ((*client)->metadata().dialect(), store::SqlDialect::kPostgres);
  RunRecord run = testing::RunIt(**client, TrainPipeline(files.path()), {{"n", 2}});
  EXPECT_EQ(run.state, "succeeded") << run.error;
  EXPECT_TRUE(fs::exists(files.path() + "/artifacts"));
  EXPECT_FALSE(fs::exists(files.path() + "/mlcore.db"));
  unsetenv("MLCORE_HOME");
}

// pg_ctl restart while a run is in the middle: the run goes on (its store calls reconnect) and
// every record is there afterwards.
TEST(PostgresPipelines, ServerRestartInTheMiddleOfARun) {
  if (PgCluster::Get() == nullptr) GTEST_SKIP() << PgCluster::skip_reason();
  std::unique_ptr<PgCluster> cluster = PgCluster::StartPrivate();
  ASSERT_NE(cluster, nullptr);
  ScratchHome home;
  setenv("MLCORE_STORE", cluster->url().c_str(), 1);
  const std::string dir = home.path();
  auto first = Fn("first", {}, {{"data", ValueType::kDataset}}, [](TaskContext& c) {
    std::ofstream(c.outputs["data"].path) << "payload";
    return absl::OkStatus();
  });
  auto wait = Fn("wait", {{"data", ValueType::kDataset}}, {{"n", ValueType::kInt}},
                 [dir](TaskContext& c) -> Status {
                   const absl::Time deadline = absl::Now() + absl::Seconds(60);
                   while (!fs::exists(dir + "/released")) {
                     if (absl::Now() > deadline) return absl::DeadlineExceededError("no release");
                     absl::SleepFor(absl::Milliseconds(10));
                   }
                   c.output_params["n"] = 7;
                   return absl::OkStatus();
                 });
  auto last =
      Fn("last", {{"n", ValueType::kInt}}, {{"out", ValueType::kDataset}}, [](TaskContext& c) {
        std::ofstream(c.outputs["out"].path) << c.params["n"].get<int>();
        return absl::OkStatus();
      });
  Pipeline p = *Pipeline::Create("restarted");
  ASSERT_TRUE(p.AddTask("first", first).ok());
  ASSERT_TRUE(p.AddTask("wait", wait, {{"data", InputBinding::Output("first", "data")}}).ok());
  ASSERT_TRUE(p.AddTask("last", last, {{"n", InputBinding::Output("wait", "n")}}).ok());
  auto client = home.Open();
  ASSERT_NE(client, nullptr);
  auto handle = client->Start(p, RunOptions{});
  ASSERT_TRUE(handle.ok()) << handle.status();
  const std::string run_id = (*handle)->id();
  // Waits until `first` is recorded, then restarts the server under the running `wait`.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    auto tasks = client->ListTasks(run_id);
    ASSERT_TRUE(tasks.ok()) << tasks.status();
    if (FindTask(*tasks, "first")->state == "succeeded") break;
    ASSERT_LT(absl::Now(), deadline);
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(cluster->Restart().ok());
  std::ofstream(dir + "/released") << "";
  auto done = (*handle)->Wait();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, "succeeded") << done->error;
  auto tasks = client->ListTasks(run_id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  for (const TaskRecord& t : *tasks) EXPECT_EQ(t.state, "succeeded") << t.name;
  EXPECT_EQ(client->ListArtifacts(run_id)->size(), 2u);
  EXPECT_EQ(client->ArtifactConsumers(client->ListArtifacts(run_id)->at(0).id)->size(), 1u);
  unsetenv("MLCORE_STORE");
}

}  // namespace
}  // namespace mlcore::pipeline

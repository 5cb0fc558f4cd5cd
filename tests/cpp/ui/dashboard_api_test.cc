// The dashboard's JSON calls over a real home: a pipeline run, a study, a registered model, a
// training log and a recording server, then the bad inputs (unknown ids, paths out of the
// artifact store, a missing, damaged or write-locked store).
#include <gtest/gtest.h>

#include <thread>

#include "mlcore/pipeline/schedule.h"
#include "mlcore/serve/server.h"
#include "mlcore/ui/dashboard.h"
#include "ui/ui_test_util.h"

namespace mlcore::ui {
namespace {

using testing::Json;
using testing::ScratchHome;

std::unique_ptr<Dashboard> OpenDashboard(const std::string& home, const std::string& token = "") {
  DashboardOptions o;
  o.home = home;
  o.token = token;
  auto d = Dashboard::Open(o);
  EXPECT_TRUE(d.ok()) << d.status();
  return std::move(*d);
}

Json Parse(const StatusOr<std::string>& text) {
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? Json::parse(*text) : Json();
}

// A scratch home; Open(write) is the dashboard over it once write(home) put there what the test
// looks at.
class DashboardApi : public ::testing::Test {
 protected:
  std::unique_ptr<Dashboard> Open(void (*write)(const std::string&)) {
    write(home.path());
    return OpenDashboard(home.path());
  }

  ScratchHome home;
};

TEST_F(DashboardApi, RunsWithTasksArtifactsLineageAndDag) {
  std::string run_id = testing::RunPipeline(home.path());
  auto d = OpenDashboard(home.path());
  Json runs = Parse(d->Runs({}));
  ASSERT_EQ(runs["total"], 1);
  EXPECT_EQ(runs["runs"][0]["id"], run_id);
  EXPECT_EQ(runs["runs"][0]["pipeline"], "digits");
  EXPECT_EQ(runs["runs"][0]["experiment"], "exp");
  EXPECT_EQ(runs["runs"][0]["state"], "succeeded");
  EXPECT_TRUE(runs["runs"][0]["duration_s"].is_number());
  EXPECT_EQ(Parse(d->Runs({.state = "failed"}))["total"], 0);
  EXPECT_EQ(Parse(d->Runs({.experiment = "other"}))["total"], 0);
  EXPECT_EQ(Parse(d->Runs({.experiment = "exp"}))["total"], 1);
  EXPECT_EQ(Parse(d->Runs({.min_duration_s = 3600}))["total"], 0);

  Json run = Parse(d->Run(run_id));
  ASSERT_EQ(run["tasks"].size(), 2u);
  Json train = run["tasks"][0]["name"] == "train" ? run["tasks"][0] : run["tasks"][1];
  EXPECT_EQ(train["state"], "succeeded");
  EXPECT_EQ(train["retries"], 0);
  EXPECT_EQ(train["cache_hit"], false);
  ASSERT_EQ(train["inputs"].size(), 1u);
  EXPECT_EQ(train["inputs"][0]["from_task"], "load");
  ASSERT_EQ(train["artifacts"].size(), 1u);
  EXPECT_EQ(train["artifacts"][0]["output"], "model");

  std::string svg = d->RunDag(run_id).value();
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find(R"(data-task="train" data-state="succeeded")"), std::string::npos) << svg;

  int64_t data_id = train["inputs"][0]["artifact_id"];
  Json artifact = Parse(d->Artifact(data_id));
  EXPECT_EQ(artifact["task"], "load");
  ASSERT_EQ(artifact["used_by"].size(), 1u);
  EXPECT_EQ(artifact["used_by"][0]["task"], "train");
  ASSERT_EQ(artifact["files"].size(), 1u);
  EXPECT_EQ(artifact["files"][0]["path"], "rows.csv");
  std::string name;
  EXPECT_EQ(d->ArtifactBytes(data_id, "rows.csv", &name).value(), "1\n2\n");
  EXPECT_EQ(name, "rows.csv");
  EXPECT_EQ(Parse(d->Artifacts(0, 10))["total"], 2);

  EXPECT_TRUE(absl::IsNotFound(d->Run("no-such-run").status()));
  EXPECT_TRUE(absl::IsNotFound(d->RunDag("no-such-run").status()));
  EXPECT_TRUE(absl::IsNotFound(d->Artifact(999).status()));
  EXPECT_TRUE(absl::IsNotFound(d->TaskLog(run_id, "nope", "stdout").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(d->TaskLog(run_id, "train", "../etc").status()));
}

TEST_F(DashboardApi, RecurringRunsWithTheirNextFireTime) {
  testing::RunPipeline(home.path());
  pipeline::ClientOptions co;
  co.home = home.path();
  auto client = pipeline::Client::Open(co);
  ASSERT_TRUE(client.ok());
  auto schedules = pipeline::Schedules::Open(client->get());
  ASSERT_TRUE(schedules.ok()) << schedules.status();
  pipeline::ScheduleOptions so;
  so.name = "nightly";
  so.pipeline = "digits";
  so.cron = "0 3 * * *";
  auto created = (*schedules)->Create(so);
  ASSERT_TRUE(created.ok()) << created.status();
  auto next = (*schedules)->NextTimes("nightly", 1);
  ASSERT_TRUE(next.ok());
  auto d = OpenDashboard(home.path());
  Json list = Parse(d->Schedules());
  ASSERT_EQ(list["schedules"].size(), 1u);
  EXPECT_EQ(list["schedules"][0]["name"], "nightly");
  EXPECT_EQ(list["schedules"][0]["cron"], "0 3 * * *");
  EXPECT_DOUBLE_EQ(list["schedules"][0]["next_fire"].get<double>(),
                   absl::ToDoubleSeconds((*next)[0] - absl::UnixEpoch()));
}

TEST_F(DashboardApi, ArtifactPathsCannotLeaveTheStore) {
  std::string run_id = testing::RunPipeline(home.path());
  auto d = OpenDashboard(home.path());
  Json run = Parse(d->Run(run_id));
  int64_t id = run["tasks"][0]["name"] == "load" ? run["tasks"][0]["artifacts"][0]["artifact_id"]
                                                 : run["tasks"][1]["artifacts"][0]["artifact_id"];
  std::string name;
  for (const char* bad : {"../rows.csv", "../../mlcore.db", "/etc/passwd", "a/./b", "a//b",
                          "sub/../../x", "..", "a\\..\\b"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(d->ArtifactBytes(id, bad, &name).status())) << bad;
  }
  EXPECT_TRUE(absl::IsNotFound(d->ArtifactBytes(id, "other.csv", &name).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(d->ArtifactBytes(id, "", &name).status()));  // a directory
  // A stored file replaced by a symlink out of the store is refused.
  Json artifact = Parse(d->Artifact(id));
  std::string digest = artifact["files"][0]["sha256"];
  std::string stored = home.path() + "/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest;
  ASSERT_TRUE(std::filesystem::exists(stored)) << stored;
  std::ofstream(home.path() + "/secret.txt") << "secret";
  std::filesystem::remove(stored);
  std::filesystem::create_symlink(home.path() + "/secret.txt", stored);
  EXPECT_TRUE(absl::IsPermissionDenied(d->ArtifactBytes(id, "rows.csv", &name).status()));
}

TEST_F(DashboardApi, StudiesTrialsPlotsAndTrial) {
  auto d = Open(testing::RunStudy);
  Json studies = Parse(d->Studies());
  ASSERT_EQ(studies["studies"].size(), 1u);
  Json s = studies["studies"][0];
  EXPECT_EQ(s["name"], "search");
  EXPECT_EQ(s["trials"], 6);
  EXPECT_EQ(s["complete"], 5);
  EXPECT_EQ(s["failed"], 1);
  ASSERT_TRUE(s["best_value"].is_number());

  Json trials = Parse(d->Trials("search", {.sort = "value"}));
  ASSERT_EQ(trials["total"], 6);
  EXPECT_EQ(trials["trials"][0]["value"], s["best_value"]);
  EXPECT_EQ(trials["trials"][0]["number"], s["best_trial"]);
  EXPECT_TRUE(trials["trials"][5]["value"].is_null());  // the failed one sorts last
  EXPECT_TRUE(trials["trials"][0]["params"].contains("x"));
  Json desc = Parse(d->Trials("search", {.sort = "value", .descending = true}));
  EXPECT_GE(desc["trials"][0]["value"].get<double>(), desc["trials"][1]["value"].get<double>());
  Json failed = Parse(d->Trials("search", {.state = "failed"}));
  ASSERT_EQ(failed["total"], 1);
  EXPECT_EQ(failed["trials"][0]["number"], 3);
  Json page = Parse(d->Trials("search", {.offset = 4, .limit = 4}));
  EXPECT_EQ(page["trials"].size(), 2u);
  EXPECT_TRUE(absl::IsInvalidArgument(d->Trials("search", {.sort = "x; DROP"}).status()));

  Json plots = Parse(d->StudyPlots("search"));
  EXPECT_EQ(plots["history"].size(), 5u);
  EXPECT_EQ(plots["parallel"]["trials"].size(), 5u);
  EXPECT_EQ(plots["importance"].size(), 2u);

  Json trial = Parse(d->Trial("search", 0));
  EXPECT_EQ(trial["intermediate_values"].size(), 1u);
  EXPECT_TRUE(absl::IsNotFound(d->Trial("search", 99).status()));
  EXPECT_TRUE(absl::IsNotFound(d->Trials("nope", {}).status()));
}

TEST_F(DashboardApi, CommandTrialsLogsAreShownAndOnlyInsideTheHome) {
  auto d = Open(testing::RunCommandStudy);
  Json trial = Parse(d->Trial("cmd", 0));
  EXPECT_EQ(trial["stdout"], "hello from trial 0\nloss=0\n");
  EXPECT_EQ(trial["stderr"], "warning 0\n");
  EXPECT_EQ(*d->TrialLog("cmd", 1, "stderr"), "warning 1\n");
  EXPECT_EQ(*d->TrialLog("cmd", 1, "stdout", 7), "loss=1\n");
  EXPECT_TRUE(absl::IsInvalidArgument(d->TrialLog("cmd", 1, "../x").status()));
  EXPECT_TRUE(absl::IsNotFound(d->TrialLog("cmd", 7, "stdout").status()));
  // A user attribute naming a file outside the home is not read.
  {
    hpo::StudyOptions so;
    so.name = "cmd";
    so.storage = home.path() + "/mlcore.db";
    auto study = hpo::Study::Load(so);
    ASSERT_TRUE(study.ok()) << study.status();
    auto t = (*study)->Ask();
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE((*t)->SetUserAttr("stdout_path", "\"/etc/passwd\"").ok());
    ASSERT_TRUE((*t)->SetUserAttr("pipeline_run_id", "\"run-7\"").ok());
    ASSERT_TRUE((*study)->Tell(**t, 1.0).ok());
  }
  EXPECT_TRUE(absl::IsPermissionDenied(d->TrialLog("cmd", 2, "stdout").status()));
  Json outside = Parse(d->Trial("cmd", 2));
  EXPECT_NE(outside["stdout"].get<std::string>().find("outside the dashboard's home"),
            std::string::npos);
  EXPECT_EQ(outside["stdout"].get<std::string>().find("root:"), std::string::npos);
  EXPECT_EQ(outside["run_id"], "run-7");  // a pipeline_objective trial links to its run
  EXPECT_TRUE(trial["run_id"].is_null());
}

TEST_F(DashboardApi, ModelsAndAliasPromotionNeedTheToken) {
  auto read_only = Open(testing::RegisterModel);
  Json models = Parse(read_only->Models());
  ASSERT_EQ(models["models"].size(), 1u);
  EXPECT_EQ(models["models"][0]["name"], "digits");
  EXPECT_EQ(models["models"][0]["aliases"]["staging"], 1);
  EXPECT_EQ(models["models"][0]["latest"]["metrics"]["accuracy"], 0.93);
  EXPECT_TRUE(absl::IsPermissionDenied(read_only->PromoteAlias("", "digits", "production", 1)));

  auto d = OpenDashboard(home.path(), "s3cret");
  EXPECT_TRUE(absl::IsPermissionDenied(d->PromoteAlias("wrong", "digits", "production", 1)));
  ASSERT_TRUE(d->PromoteAlias("s3cret", "digits", "production", 1).ok());
  EXPECT_EQ(Parse(d->Model("digits"))["aliases"]["production"], 1);
  EXPECT_TRUE(absl::IsNotFound(d->PromoteAlias("s3cret", "digits", "production", 7)) ||
              absl::IsInvalidArgument(d->PromoteAlias("s3cret", "digits", "production", 7)));
  EXPECT_TRUE(absl::IsNotFound(d->Model("nope").status()));
}

TEST_F(DashboardApi, TrainingCurvesGrowAsEventsAreWritten) {
  auto d = Open(testing::WriteTrainingLog);
  Json runs = Parse(d->TrainingRuns());
  ASSERT_EQ(runs["runs"].size(), 1u);
  EXPECT_EQ(runs["runs"][0]["name"], "fit1");
  Json curves = Parse(d->TrainingCurves("fit1"));
  ASSERT_EQ(curves["series"]["train/epoch_loss"].size(), 3u);
  EXPECT_EQ(curves["series"]["train/epoch_lr"].size(), 3u);
  EXPECT_EQ(curves["last_step"], 2);
  auto w = nn::SummaryWriter::Open(home.path() + "/logs/fit1/validation");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AddScalar("epoch_loss", 0.7, 3).ok());
  ASSERT_TRUE((*w)->Flush().ok());
  Json later = Parse(d->TrainingCurves("fit1", 2));
  EXPECT_FALSE(later["series"].contains("train/epoch_loss"));
  ASSERT_EQ(later["series"]["validation/epoch_loss"].size(), 1u);
  EXPECT_TRUE(absl::IsNotFound(d->TrainingCurves("nope").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(d->TrainingCurves("../x").status()));
}

TEST_F(DashboardApi, ServersRecordThemselvesAndResourcesSayWhyNoGpu) {
  testing::RegisterModel(home.path());  // creates the store
  serve::ServerOptions so;
  so.http_port = 0;
  so.http_threads = 1;
  so.record_home = home.path();
  auto server = std::make_unique<serve::Server>(so);
  ASSERT_TRUE(server->Start().ok());
  auto d = OpenDashboard(home.path());
  Json servers = Parse(d->Servers());
  ASSERT_EQ(servers["servers"].size(), 1u);
  EXPECT_EQ(servers["servers"][0]["status"], "running");
  EXPECT_EQ(servers["servers"][0]["url"], server->url());
  EXPECT_EQ(servers["servers"][0]["pid"], static_cast<int64_t>(getpid()));
  server->Stop();
  EXPECT_EQ(Parse(d->Servers())["servers"][0]["status"], "stopped");

  Json resources = Parse(d->Resources());
  EXPECT_GE(resources["cpu_slots"].get<int>(), 1);
  if (resources["gpus"].empty()) EXPECT_FALSE(resources["gpu_reason"].get<std::string>().empty());
}

TEST_F(DashboardApi, MissingDamagedAndLockedStores) {
  auto d = OpenDashboard(home.path() + "/nothing-here");
  StatusOr<std::string> runs = d->Runs({});
  EXPECT_TRUE(absl::IsFailedPrecondition(runs.status())) << runs.status();
  EXPECT_NE(runs.status().message().find("no mlcore store"), std::string::npos);
  // Resources still answer (devices need no store).
  EXPECT_TRUE(Parse(d->Resources()).contains("store_error"));

  std::filesystem::create_directories(home.path() + "/damaged");
  std::ofstream(home.path() + "/damaged/mlcore.db") << std::string(8192, 'x');
  auto damaged = OpenDashboard(home.path() + "/damaged");
  StatusOr<std::string> broken = damaged->Studies();
  EXPECT_FALSE(broken.ok());
  EXPECT_TRUE(absl::IsDataLoss(broken.status())) << broken.status();

  // Another process holding the write lock (a pipeline writing) does not stop reads.
  std::string run_id = testing::RunPipeline(home.path());
  auto live = OpenDashboard(home.path());
  pipeline::testing::StoreWriteLock lock(home.path());
  EXPECT_EQ(Parse(live->Runs({}))["total"], 1);
  EXPECT_EQ(Parse(live->Run(run_id))["tasks"].size(), 2u);
}

}  // namespace
}  // namespace mlcore::ui

// A study tuning a real two-step pipeline: each trial is one recorded run.
#include "mlcore/hpo/pipeline_objective.h"

#include <cmath>
#include <fstream>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::hpo {
namespace {

using pipeline::InputBinding;
using pipeline::IoSpec;
using pipeline::Json;
using pipeline::TaskContext;
using pipeline::ValueType;
using pipeline::testing::Fn;
using pipeline::testing::ScratchHome;

// train(lr, depth) -> score; evaluate(score) -> a Metrics artifact {"accuracy": ...}.
// The pipeline also returns the score as its output "score". lr above 0.9 fails the run.
pipeline::Pipeline TwoSteps() {
  auto train = Fn("train", {{"lr", ValueType::kFloat}, {"depth", ValueType::kInt}},
                  {{"score", ValueType::kFloat}}, [](TaskContext& ctx) -> Status {
                    double lr = ctx.params["lr"].get<double>();
                    if (lr > 0.9) return absl::InvalidArgumentError("lr diverged");
                    int64_t depth = ctx.params["depth"].get<int64_t>();
                    ctx.output_params["score"] = -std::pow(lr - 0.3, 2) - 0.01 * depth;
                    return absl::OkStatus();
                  });
  auto evaluate = Fn("evaluate", {{"score", ValueType::kFloat}}, {{"metrics", ValueType::kMetrics}},
                     [](TaskContext& ctx) -> Status {
                       std::ofstream(ctx.outputs["metrics"].path) << "{}";
                       ctx.outputs["metrics"].metadata["accuracy"] =
                           1.0 + ctx.params["score"].get<double>();
                       return absl::OkStatus();
                     });
  auto p = *pipeline::Pipeline::Create(
      "tune-me", {{"lr", ValueType::kFloat}, {"depth", ValueType::kInt, Json(2)}});
  EXPECT_TRUE(p.AddTask("train", train,
                        {{"lr", InputBinding::Parameter("lr")},
                         {"depth", InputBinding::Parameter("depth")}})
                  .ok());
  EXPECT_TRUE(
      p.AddTask("evaluate", evaluate, {{"score", InputBinding::Output("train", "score")}}).ok());
  EXPECT_TRUE(p.AddOutput("score", "train", "score").ok());
  return p;
}

SearchSpace Space(double lr_high) {
  SearchSpace s;
  EXPECT_TRUE(s.Add("lr", *Distribution::Float(0.0, lr_high)).ok());
  EXPECT_TRUE(s.Add("depth", *Distribution::Int(1, 4)).ok());
  return s;
}

std::unique_ptr<Study> NewStudy() {
  return testing::SeededStudy("random", 5, std::nullopt, StudyDirection::kMaximize);
}

TEST(PipelineObjectiveTest, EachTrialIsOneRecordedRun) {
  ScratchHome home;
  auto client = home.Open();
  PipelineObjectiveOptions o;
  o.metric = "accuracy";  // from the Metrics artifact's metadata
  o.run.experiment = "tuning";
  auto objective = *MakePipelineObjective(client.get(), TwoSteps(), Space(0.8), o);
  auto study = NewStudy();
  ASSERT_TRUE(study->Optimize(objective, testing::NTrials(5, 2)).ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 5u);
  std::set<std::string> run_ids;
  for (const auto& t : trials) {
    ASSERT_EQ(t->state, TrialState::kComplete) << t->error;
    double lr = std::get<double>(t->params.at("lr"));
    int64_t depth = std::get<int64_t>(t->params.at("depth"));
    EXPECT_NEAR(t->value, 1.0 - std::pow(lr - 0.3, 2) - 0.01 * depth, 1e-12);
    std::string id = Json::parse(t->user_attrs.at(kPipelineRunIdAttr)).get<std::string>();
    run_ids.insert(id);
    auto run = client->GetRun(id);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->experiment, "tuning");
    EXPECT_EQ(run->arguments["lr"].get<double>(), lr);
    EXPECT_EQ(run->arguments["depth"].get<int64_t>(), depth);
  }
  EXPECT_EQ(run_ids.size(), 5u);

  // The same runs read through a pipeline output instead of the artifact.
  auto run = *client->GetRun(*run_ids.begin());
  auto score = PipelineRunMetric(*client, run, "score");
  ASSERT_TRUE(score.ok()) << score.status();
  auto missing = PipelineRunMetric(*client, run, "f1");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_HAS(std::string(missing.status().message()), "no numeric output 'f1'");
  EXPECT_HAS(std::string(missing.status().message()), "score");
}

TEST(PipelineObjectiveTest, AFailedRunFailsTheTrialWithItsError) {
  ScratchHome home;
  auto client = home.Open();
  PipelineObjectiveOptions o;
  o.metric = "score";
  auto study = NewStudy();
  ASSERT_TRUE(study->Enqueue({{"lr", 0.95}, {"depth", int64_t{1}}}).ok());
  ASSERT_TRUE(study->Enqueue({{"lr", 0.5}, {"depth", int64_t{1}}}).ok());
  auto objective = *MakePipelineObjective(client.get(), TwoSteps(), Space(1.0), o);
  OptimizeOptions opt = testing::NTrials(2);
  Status stopped = study->Optimize(objective, opt);  // by default the first failure stops it
  EXPECT_HAS(std::string(stopped.message()), "lr diverged");
  EXPECT_EQ((*study->Trials())[1]->state, TrialState::kWaiting);  // not started
  opt.n_trials = 1;
  opt.catch_error = CatchAllErrors();  // a failed run fails only its trial
  ASSERT_TRUE(study->Optimize(objective, opt).ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0]->state, TrialState::kFailed);
  EXPECT_HAS(trials[0]->error, "lr diverged");
  EXPECT_HAS(trials[0]->error, "pipeline run");
  EXPECT_EQ(trials[0]->user_attrs.count(kPipelineRunIdAttr), 1u);
  EXPECT_EQ(trials[1]->state, TrialState::kComplete);
  EXPECT_NEAR(trials[1]->value, -0.04 - 0.01, 1e-12);
}

TEST(PipelineObjectiveTest, RejectsParametersThePipelineDoesNotTake) {
  ScratchHome home;
  auto client = home.Open();
  SearchSpace s = Space(1.0);
  ASSERT_TRUE(s.Add("momentum", *Distribution::Float(0, 1)).ok());
  PipelineObjectiveOptions o;
  o.metric = "score";
  auto bad = MakePipelineObjective(client.get(), TwoSteps(), s, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_HAS(std::string(bad.status().message()), "'momentum'");
  EXPECT_HAS(std::string(bad.status().message()), "tune-me");
  o.metric = "";
  EXPECT_TRUE(absl::IsInvalidArgument(
      MakePipelineObjective(client.get(), TwoSteps(), Space(1.0), o).status()));
}

}  // namespace
}  // namespace mlcore::hpo

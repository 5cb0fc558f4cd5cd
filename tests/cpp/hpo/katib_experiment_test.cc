#include "gtest/gtest.h"
#include "mlcore/hpo/katib.h"

namespace mlcore::hpo {
namespace {

KatibExperimentOptions Options() {
  KatibExperimentOptions o;
  o.name = "mnist-tpe";
  o.objective_metric = "loss";
  o.additional_metrics = {"accuracy"};
  o.goal = 0.01;
  o.seed = 7;
  o.pruner = "median";
  o.parallel_trial_count = 3;
  o.max_trial_count = 12;
  o.image = "docker.io/me/train:1";
  o.command_template = "python train.py --lr={lr} --opt={opt}";
  EXPECT_TRUE(o.space.Add("lr", *Distribution::Float(1e-4, 1e-1, true)).ok());
  EXPECT_TRUE(o.space.Add("layers", *Distribution::Int(1, 7, false, 2)).ok());
  EXPECT_TRUE(
      o.space.Add("opt", *Distribution::Categorical({std::string("sgd"), std::string("adam")}))
          .ok());
  return o;
}

TEST(KatibExperimentTest, WritesTheExperiment) {
  std::string y = *KatibExperimentYaml(Options());
  for (const char* expected :
       {"kind: Experiment",
        "name: \"mnist-tpe\"",
        "type: minimize",
        "goal: 0.01",
        "objectiveMetricName: \"loss\"",
        "- \"accuracy\"",
        "algorithmName: tpe",
        "name: random_state",
        "value: \"7\"",
        "algorithmName: medianstop",
        "name: min_trials_required",
        "parallelTrialCount: 3",
        "maxTrialCount: 12",
        "parameterType: double",
        "min: \"0.0001\"",
        "distribution: logUniform",
        "parameterType: int",
        "step: \"2\"",
        "parameterType: categorical",
        "- \"adam\"",
        "reference: \"lr\"",
        "image: \"docker.io/me/train:1\"",
        "\"python train.py --lr=${trialParameters.lr} --opt=${trialParameters.opt}\""}) {
    EXPECT_NE(y.find(expected), std::string::npos) << expected << "\n" << y;
  }
}

TEST(KatibExperimentTest, RefusesWhatKatibCannotRun) {
  auto o = Options();
  o.sampler = "cmaes-typo";
  EXPECT_TRUE(absl::IsInvalidArgument(KatibExperimentYaml(o).status()));
  o = Options();
  o.image.clear();
  EXPECT_NE(KatibExperimentYaml(o).status().message().find("image"), std::string::npos);
  o = Options();
  o.command_template = "train {nope}";
  EXPECT_FALSE(KatibExperimentYaml(o).ok());
  o = Options();
  ASSERT_TRUE(
      o.space.Add("momentum", *Distribution::Float(0, 1), Condition{"opt", {std::string("sgd")}})
          .ok());
  EXPECT_NE(KatibExperimentYaml(o).status().message().find("conditional"), std::string::npos);
}

}  // namespace
}  // namespace mlcore::hpo

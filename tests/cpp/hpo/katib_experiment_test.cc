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

// A hand-written Experiment, as `kubectl get experiment -o json` gives it: a PyTorchJob trial
// whose container command uses trial parameter names that differ from the parameters'.
constexpr char kExperimentJson[] = R"({
  "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
  "metadata": {"name": "resnet", "namespace": "team-a"},
  "spec": {
    "objective": {"type": "maximize", "goal": 0.99, "objectiveMetricName": "accuracy",
                  "additionalMetricNames": ["loss"]},
    "algorithm": {"algorithmName": "random",
                  "algorithmSettings": [{"name": "random_state", "value": "42"}]},
    "earlyStopping": {"algorithmName": "medianstop",
                      "algorithmSettings": [{"name": "min_trials_required", "value": "5"},
                                            {"name": "start_step", "value": "2"}]},
    "parallelTrialCount": 4, "maxTrialCount": "30", "maxFailedTrialCount": 2,
    "parameters": [
      {"name": "lr", "parameterType": "double",
       "feasibleSpace": {"min": 0.001, "max": "0.1", "distribution": "logUniform"}},
      {"name": "batch", "parameterType": "discrete", "feasibleSpace": {"list": [32, 64, 128]}},
      {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam"]}}
    ],
    "trialTemplate": {
      "primaryContainerName": "pytorch",
      "trialParameters": [{"name": "learningRate", "reference": "lr"},
                          {"name": "batchSize", "reference": "batch"},
                          {"name": "optimizer", "reference": "opt"}],
      "trialSpec": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {
        "pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {"containers": [
          {"name": "pytorch", "image": "me/train:2",
           "command": ["python3", "/opt/train.py"],
           "args": ["--lr=${trialParameters.learningRate}", "--batch=${trialParameters.batchSize}",
                    "--opt", "${trialParameters.optimizer}", "--note", "two words"]}]}}}}}}
    }
  }
})";

TEST(KatibExperimentTest, ReadsAHandWrittenExperiment) {
  auto o = KatibExperimentFromJson(kExperimentJson);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->name, "resnet");
  EXPECT_EQ(o->k8s_namespace, "team-a");
  EXPECT_EQ(o->direction, StudyDirection::kMaximize);
  EXPECT_EQ(o->goal, 0.99);
  EXPECT_EQ(o->objective_metric, "accuracy");
  EXPECT_EQ(o->additional_metrics, std::vector<std::string>{"loss"});
  EXPECT_EQ(o->sampler, "random");
  EXPECT_EQ(o->seed, 42u);
  EXPECT_EQ(o->pruner, "median");
  EXPECT_EQ(o->min_trials_required, 5);
  EXPECT_EQ(o->start_step, 2);
  EXPECT_EQ(o->parallel_trial_count, 4);
  EXPECT_EQ(o->max_trial_count, 30);
  EXPECT_EQ(o->max_failed_trial_count, 2);
  EXPECT_EQ(o->image, "me/train:2");
  EXPECT_EQ(o->command_template,
            "python3 /opt/train.py --lr={lr} --batch={batch} --opt {opt} --note 'two words'");
  ASSERT_EQ(o->space.size(), 3u);
  EXPECT_EQ(o->space.Find("lr")->distribution, *Distribution::Float(0.001, 0.1, true));
  EXPECT_EQ(o->space.Find("batch")->distribution, *Distribution::Discrete({32, 64, 128}));
}

TEST(KatibExperimentTest, ReadsBackWhatItWrites) {
  // The writer's YAML quotes every string as JSON would; a minimal YAML-to-JSON of this
  // document is exercised in Python (tests/python/test_hpo_katib.py). Here: the fields via JSON.
  KatibExperimentOptions in = Options();
  auto o = KatibExperimentFromJson(R"({"metadata": {"name": "mnist-tpe"}, "spec": {
    "objective": {"type": "minimize", "objectiveMetricName": "loss"},
    "parameters": [{"name": "lr", "parameterType": "double",
                    "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}}],
    "trialTemplate": {"trialSpec": {"spec": {"template": {"spec": {"containers": [
      {"name": "training-container", "image": "i",
       "command": ["sh", "-c", "python train.py --lr=${trialParameters.lr}"]}]}}}},
      "trialParameters": [{"name": "lr", "reference": "lr"}]}}})");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command_template, "python train.py --lr={lr}");
  EXPECT_EQ(o->space.Find("lr")->distribution, in.space.Find("lr")->distribution);
  EXPECT_EQ(o->sampler, "tpe");  // no algorithm: the default
  EXPECT_EQ(o->pruner, "none");
}

TEST(KatibExperimentTest, ReadingErrorsNameTheField) {
  std::string good = kExperimentJson;
  auto expect_error = [&](const std::string& from, const std::string& to,
                          const std::string& field) {
    std::string doc = good;
    size_t at = doc.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    doc.replace(at, from.size(), to);
    auto o = KatibExperimentFromJson(doc);
    ASSERT_TRUE(absl::IsInvalidArgument(o.status())) << field;
    EXPECT_NE(o.status().message().find(field), std::string::npos) << o.status();
  };
  expect_error(R"("min": 0.001,)", R"("min": "abc",)", "spec.parameters[0]");
  expect_error(R"("type": "maximize")", R"("type": "up")", "spec.objective.type");
  expect_error(R"("algorithmName": "random")", R"("algorithmName": "hyperopt")",
               "spec.algorithm.algorithmName");
  expect_error(R"("maxTrialCount": "30")", R"("maxTrialCount": "lots")", "spec.maxTrialCount");
  expect_error(R"("objectiveMetricName": "accuracy",)", "", "spec.objective.objectiveMetricName");
  expect_error(R"({"name": "optimizer", "reference": "opt"})",
               R"({"name": "optimizer", "reference": "momentum"})",
               "spec.trialTemplate.trialParameters[2].reference");
  expect_error(R"("name": "pytorch", "image")", R"("name": "other", "image")",
               "no container named 'pytorch'");
  EXPECT_TRUE(absl::IsInvalidArgument(KatibExperimentFromJson("{not json").status()));
}

TEST(KatibExperimentTest, GpusPerTrialIsTheContainersGpuLimit) {
  KatibExperimentOptions o = Options();
  o.gpus_per_trial = 2;
  std::string y = *KatibExperimentYaml(o);
  EXPECT_NE(y.find("resources:\n                  limits:\n                    "
                   "\"nvidia.com/gpu\": 2\n"),
            std::string::npos)
      << y;
  EXPECT_EQ(KatibExperimentYaml(Options())->find("nvidia.com/gpu"), std::string::npos);
  o.gpus_per_trial = -1;
  EXPECT_FALSE(KatibExperimentYaml(o).ok());

  auto read = [](const std::string& limit) {
    return KatibExperimentFromJson(R"({"metadata": {"name": "g"}, "spec": {
      "objective": {"type": "minimize", "objectiveMetricName": "loss"},
      "parameters": [{"name": "lr", "parameterType": "double",
                      "feasibleSpace": {"min": "0.1", "max": "0.2"}}],
      "trialTemplate": {"trialSpec": {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "i", "command": ["python", "t.py"],
         "resources": {"limits": {"nvidia.com/gpu": )" +
                                   limit + R"(}}}]}}}}}}})");
  };
  EXPECT_EQ(read("1")->gpus_per_trial, 1);
  EXPECT_EQ(read("\"4\"")->gpus_per_trial, 4);  // a Kubernetes quantity string
  auto bad = read("\"half\"");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nvidia.com/gpu"), std::string::npos);
  EXPECT_EQ(KatibExperimentFromJson(kExperimentJson)->gpus_per_trial, 0);
}

}  // namespace
}  // namespace mlcore::hpo

#include "mlcore/hpo/study_spec.h"

#include <gtest/gtest.h>

#include <string>

namespace mlcore::hpo {
namespace {

constexpr char kSpec[] = R"({
  "name": "demo", "direction": "maximize", "sampler": "random", "seed": 3,
  "pruner": {"name": "hyperband", "max_resource": 27},
  "command": "python train.py --lr={lr} --opt=${trialParameters.opt} -n {trial_number}",
  "metric": "acc", "format": "json",
  "space": {"lr": {"type": "double", "min": 0.0001, "max": 0.1, "log": true},
            "layers": {"type": "int", "min": 1, "max": 4},
            "opt": {"type": "categorical", "values": ["sgd", "adam"]},
            "batch": {"type": "discrete", "values": [32, 64]}},
  "n_trials": 20, "n_parallel": 2, "trial_timeout": 60, "goal": 0.99,
  "gpus_per_trial": 1, "gpus": [0, 1]})";

TEST(StudySpecTest, ReadsEveryField) {
  StudySpec spec = *StudySpecFromJson(kSpec);
  EXPECT_EQ(spec.name, "demo");
  EXPECT_EQ(spec.direction, StudyDirection::kMaximize);
  EXPECT_EQ(spec.sampler, "random");
  EXPECT_EQ(*spec.seed, 3u);
  EXPECT_EQ(spec.pruner, "hyperband");
  EXPECT_EQ(spec.MakePrunerOptions().max_resource, 27);
  EXPECT_EQ(spec.MakePrunerOptions().reduction_factor, PrunerOptions().reduction_factor);
  EXPECT_EQ(spec.format, MetricsFormat::kJsonLines);
  ASSERT_EQ(spec.space.params().size(), 4u);
  EXPECT_TRUE(spec.space.Find("lr")->distribution.log());
  EXPECT_EQ(spec.space.Find("batch")->distribution.type(), ParamType::kDiscrete);
  EXPECT_EQ(*spec.n_trials, 20);
  EXPECT_EQ(spec.n_parallel, 2);
  EXPECT_FALSE(spec.timeout.has_value());
  EXPECT_EQ(*spec.trial_timeout, 60.0);
  EXPECT_EQ(*spec.goal, 0.99);
  EXPECT_EQ(spec.gpus_per_trial, 1);
  EXPECT_EQ(*spec.gpus, (std::vector<int>{0, 1}));
}

TEST(StudySpecTest, DefaultsOfAShortSpec) {
  StudySpec spec = *StudySpecFromJson(
      R"({"name": "s", "command": "echo loss=1", "metric": "loss", "timeout": 5,
          "space": {"x": {"type": "float", "min": 0, "max": 1}}})");
  EXPECT_EQ(spec.direction, StudyDirection::kMinimize);
  EXPECT_EQ(spec.sampler, "tpe");
  EXPECT_EQ(spec.pruner, "");
  EXPECT_EQ(spec.format, MetricsFormat::kText);
  EXPECT_FALSE(spec.n_trials.has_value());
  EXPECT_EQ(spec.n_parallel, 1);
}

// Each bad document fails naming the field.
TEST(StudySpecTest, NamesTheFieldOfEachMistake) {
  const std::string base = R"("name": "b", "command": "echo loss=1", "metric": "loss", )";
  const std::string space = R"("space": {"x": {"type": "double", "min": 0, "max": 1}})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base + R"("n_trials": 1, "space": {"x": {"type": "double", "min": 5, "max": 1}})",
       "space.x: float range has low 5 > high 1"},
      {R"("name": "b", "command": "echo {y}", "metric": "loss", "n_trials": 1, )" + space,
       "command: placeholder {y} is not a parameter of space (parameters: x)"},
      {base + R"("n_trials": 1, "sampler": "nope", )" + space, "sampler: expected one of"},
      {base + R"("n_trials": 1, "space": {"x": {"type": "float", "low": 0, "max": 1}})",
       "space.x.low: unknown field for type float"},
      {base + space, "n_trials: missing"},
      {base + R"("n_trials": "zero", )" + space, "n_trials: expected an integer"},
      {base + R"("n_trials": 0, )" + space, "n_trials: must be at least 1"},
      {R"("command": "echo", "metric": "loss", "space": {})", "name: missing"},
      {base + R"("n_trials": 1, "pruner": {"name": "median", "max_resource": 3}, )" + space,
       "pruner.max_resource: unknown option for median"},
      {base + R"("n_trials": 1, "gpus": [0, -1], )" + space, "gpus[1]: must be at least 0"},
      {base + R"("n_trials": 1, "colour": 1, )" + space, "colour: unknown field"},
      {R"("name": "../x", "command": "c", "metric": "m", "n_trials": 1, )" + space,
       "name: \"../x\" cannot name a file"},
  };
  for (const auto& [body, field] : cases) {
    Status s = StudySpecFromJson("{" + body + "}").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(s.message().rfind(field, 0), 0u) << s.message() << " for " << body;
  }
  EXPECT_FALSE(StudySpecFromJson("[1]").ok());
  EXPECT_FALSE(StudySpecFromJson("{").ok());
}

}  // namespace
}  // namespace mlcore::hpo

// Command-template trials with real /bin/sh subprocesses.
#include "mlcore/hpo/command_objective.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/trial_log.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using testing::NTrials;
using testing::Seeded;
using testing::SeededStudy;

TEST(MetricParsingTest, KatibTextFormat) {
  auto m = ParseTextMetrics("2024-05-01T10:00:00Z epoch=3 loss=1.5e-3 accuracy = 0.91, lr=-2E+2");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].first, "epoch");
  EXPECT_DOUBLE_EQ(m[1].second, 1.5e-3);
  EXPECT_EQ(m[2].first, "accuracy");
  EXPECT_DOUBLE_EQ(m[2].second, 0.91);
  EXPECT_DOUBLE_EQ(m[3].second, -200);
  EXPECT_TRUE(ParseTextMetrics("name=resnet note=abc").empty());
  EXPECT_TRUE(ParseTextMetrics("no metrics here").empty());
  auto j = ParseJsonMetrics(R"({"loss": 0.25, "step": 3, "tag": "x"})");
  ASSERT_EQ(j.size(), 2u);
  EXPECT_TRUE(ParseJsonMetrics("loss=1").empty());
}

TEST(MetricParsingTest, FormatsPlaceholders) {
  std::map<std::string, ParamValue> p = {{"lr", 0.001}, {"layers", int64_t{3}}};
  EXPECT_EQ(*FormatCommand("train --lr={lr} --n=${trialParameters.layers} -t {trial_number}", p, 7),
            "train --lr=0.001 --n=3 -t 7");
  auto bad = FormatCommand("train --x={x}", p, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'{x}'"), std::string::npos);
}

SearchSpace Space() {
  SearchSpace s;
  EXPECT_TRUE(s.Add("x", *Distribution::Float(0, 1)).ok());
  EXPECT_TRUE(s.Add("mode", *Distribution::Categorical({std::string("ok")})).ok());
  return s;
}

TEST(CommandObjectiveTest, RunsTrialsAndReadsTheLastMetric) {
  CommandObjectiveOptions o;
  o.command_template =
      "echo \"2024-01-01T00:00:00Z loss=9\"; echo 'loss={x}'; echo n=$MLCORE_TRIAL_NUMBER >&2";
  o.metric = "loss";
  auto objective = *MakeCommandObjective(o, Space());
  auto study = SeededStudy("random", 1);
  ASSERT_TRUE(study->Optimize(objective, NTrials(4, 2)).ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    ASSERT_EQ(t->state, TrialState::kComplete) << t->error;
    EXPECT_NEAR(t->value, std::get<double>(t->params.at("x")), 1e-12);
    EXPECT_EQ(t->intermediate_values.size(), 2u);
    EXPECT_EQ(t->intermediate_values.at(0), 9);
  }
}

TEST(CommandObjectiveTest, CrashesHangsAndSilenceFailTheTrialWithTheReason) {
  auto study = SeededStudy("random", 1);
  OptimizeOptions opt = NTrials(1);
  opt.catch_error = CatchAllErrors();  // each case's failure fails only its trial
  struct Case {
    std::string command;
    absl::Duration timeout;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"echo loss=1; kill -SEGV $$", absl::InfiniteDuration(), "signal 11"},
      {"sleep 30; echo loss=1", absl::Milliseconds(300), "timeout"},
      {"echo accuracy=0.5", absl::InfiniteDuration(), "no 'loss' metric"},
      {"echo loss=1; echo oops >&2; exit 3", absl::InfiniteDuration(), "status 3"},
  };
  for (const Case& c : cases) {
    CommandObjectiveOptions o;
    o.command_template = c.command;
    o.metric = "loss";
    o.timeout = c.timeout;
    absl::Time start = absl::Now();
    ASSERT_TRUE(study->Optimize(*MakeCommandObjective(o, Space()), opt).ok());
    EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << c.command;
    TrialList trials = *study->Trials();
    const FrozenTrial& t = *trials.back();
    EXPECT_EQ(t.state, TrialState::kFailed) << c.command;
    EXPECT_NE(t.error.find(c.expected), std::string::npos) << c.command << " -> " << t.error;
  }
  EXPECT_NE(study->Trials()->back()->error.find("oops"), std::string::npos);
  CommandObjectiveOptions bad;
  bad.command_template = "train {nope}";
  bad.metric = "loss";
  EXPECT_TRUE(absl::IsInvalidArgument(MakeCommandObjective(bad, Space()).status()));
}

TEST(CommandObjectiveTest, JsonLinesFromStdoutAndFromAFile) {
  store::testing::ScratchDir dir;
  auto study = SeededStudy("random", 1);
  OptimizeOptions opt = NTrials(1);
  CommandObjectiveOptions o;
  o.metric = "loss";
  o.format = MetricsFormat::kJsonLines;
  o.command_template = "echo '{\"loss\": 0.5}'; echo '{\"loss\": 0.25}'";
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(o, Space()), opt).ok());
  EXPECT_EQ(study->Trials()->back()->value, 0.25);
  o.metrics_file = dir.Join("metrics-{trial_number}.jsonl");
  o.command_template = "echo '{\"loss\": 0.75}' > " + dir.Join("metrics-{trial_number}.jsonl");
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(o, Space()), opt).ok());
  EXPECT_EQ(study->Trials()->back()->value, 0.75) << study->Trials()->back()->error;
}

TEST(CommandObjectiveTest, PrunerStopsTheProcessEarly) {
  StudyOptions so = Seeded("random", 1);
  so.pruner = "median";
  so.pruner_options.min_trials_required = 1;
  auto study = *Study::Create(so);
  OptimizeOptions opt = NTrials(1);
  CommandObjectiveOptions good;
  good.metric = "loss";
  good.command_template = "for i in 1 2 3 4 5; do echo loss=1; done";
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(good, Space()), opt).ok());
  CommandObjectiveOptions bad = good;
  bad.command_template = "for i in 1 2 3 4 5; do echo loss=5; sleep 1; done";
  absl::Time start = absl::Now();
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(bad, Space()), opt).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(study->Trials()->back()->state, TrialState::kPruned);
  EXPECT_EQ(study->Trials()->back()->value, 5);
}

TEST(CommandObjectiveTest, MultiObjectiveCommandsReturnOneValuePerMetric) {
  CommandObjectiveOptions o;
  o.command_template = "echo 'loss={x} latency=3e-1'; echo latency=0.5";
  StudyOptions so;
  so.directions = {StudyDirection::kMinimize, StudyDirection::kMinimize};
  so.sampler = "random";
  so.sampler_options.seed = 2;
  auto created = Study::Create(so);
  ASSERT_TRUE(created.ok()) << created.status();
  auto study = *std::move(created);
  auto made = MakeCommandMultiObjective(o, Space(), {"loss", "latency"});
  ASSERT_TRUE(made.ok()) << made.status();
  MultiObjective objective = *std::move(made);
  OptimizeOptions opt;
  opt.n_trials = 3;
  ASSERT_TRUE(study->OptimizeMultiObjective(objective, opt).ok());
  TrialList trials = *study->Trials();
  for (const auto& t : trials) {
    ASSERT_EQ(t->state, TrialState::kComplete) << t->error;
    ASSERT_EQ(t->values.size(), 2u);
    EXPECT_DOUBLE_EQ(t->values[0], std::get<double>(t->params.at("x")));
    EXPECT_DOUBLE_EQ(t->values[1], 0.5);  // the last value printed
  }
  auto missing_made = MakeCommandMultiObjective(o, Space(), {"loss", "f1"});
  ASSERT_TRUE(missing_made.ok()) << missing_made.status();
  MultiObjective missing = *std::move(missing_made);
  ASSERT_TRUE(study
                  ->OptimizeMultiObjective(missing,
                                           [] {
                                             OptimizeOptions one;
                                             one.n_trials = 1;
                                             one.catch_error = CatchAllErrors();
                                             return one;
                                           }())
                  .ok());
  auto last = study->Trials()->back();
  EXPECT_EQ(last->state, TrialState::kFailed);
  EXPECT_NE(last->error.find("no 'f1' metric"), std::string::npos) << last->error;
  EXPECT_FALSE(MakeCommandMultiObjective(o, Space(), {}).ok());
  EXPECT_NE(MakeCommandMultiObjective(o, Space(), {"a", "a"}).status().message().find("twice"),
            std::string::npos);
}

TEST(CommandObjectiveTest, EachTrialKeepsItsStdoutAndStderrInLogFiles) {
  store::testing::ScratchDir dir;
  CommandObjectiveOptions o;
  o.command_template =
      "echo starting trial $MLCORE_TRIAL_NUMBER; echo 'loss={x}'; echo oops {trial_number} >&2";
  o.metric = "loss";
  o.log_dir = dir.Join("logs");
  auto study = SeededStudy("random", 1);
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(o, Space()), NTrials(3, 2)).ok());
  TrialList trials = *study->Trials();
  for (const auto& t : trials) {
    ASSERT_EQ(t->state, TrialState::kComplete) << t->error;
    std::string n = std::to_string(t->number);
    EXPECT_EQ(t->user_attrs.at("stdout_path"),
              "\"" + dir.Join("logs/trial-" + n + "/stdout.log") + "\"");
    auto out = ReadTrialLog(*t, "stdout");
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->rfind("starting trial " + n + "\nloss=", 0), 0u) << *out;
    EXPECT_EQ(*ReadTrialLog(*t, "stderr"), "oops " + n + "\n");
    EXPECT_EQ(*ReadTrialLog(*t, "stdout", 4), out->substr(out->size() - 4));
    EXPECT_TRUE(absl::IsInvalidArgument(ReadTrialLog(*t, "stdin").status()));
  }
  // A trial whose command fails keeps its logs too; without log_dir nothing is kept.
  o.command_template = "echo bad input >&2; exit 3";
  OptimizeOptions one;
  one.n_trials = 1;
  one.catch_error = CatchAllErrors();
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(o, Space()), one).ok());
  EXPECT_EQ(*ReadTrialLog(*study->Trials()->back(), "stderr"), "bad input\n");
  o.log_dir.clear();
  ASSERT_TRUE(study->Optimize(*MakeCommandObjective(o, Space()), one).ok());
  EXPECT_TRUE(absl::IsNotFound(ReadTrialLog(*study->Trials()->back(), "stderr").status()));
  o.max_log_bytes = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(MakeCommandObjective(o, Space()).status()));
}

TEST(TrialLogFileTest, RotatesPastItsBoundWithAMarker) {
  store::testing::ScratchDir dir;
  auto log = TrialLogFile::Open(dir.Join("t/stdout.log"), 100);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 40; ++i) (*log)->Append("line " + std::to_string(i));
  std::string now = store::testing::ReadAll(dir.Join("t/stdout.log"));
  std::string before = store::testing::ReadAll(dir.Join("t/stdout.log.1"));
  size_t marker = now.find('\n') + 1;
  EXPECT_LE(now.size() - marker, 100u);  // each file holds the bound, plus its marker
  EXPECT_LE(before.size() - before.find('\n') - 1, 100u);
  EXPECT_EQ(now.rfind("[mlcore: this log passed 100 bytes", 0), 0u) << now;
  EXPECT_NE(now.find("stdout.log.1, older output was dropped]"), std::string::npos) << now;
  EXPECT_NE(now.find("line 39\n"), std::string::npos);  // the newest output is always here
  EXPECT_TRUE(absl::IsInternal(TrialLogFile::Open(dir.Join("t/stdout.log/x"), 100).status()));
}

}  // namespace
}  // namespace mlcore::hpo

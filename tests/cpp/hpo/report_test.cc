// The study reports a C++ program reads: best value/params, the trials table, the SVG plots, the
// progress line and Katib YAML, on a real study.
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_format.h"
#include "mlcore/hpo/katib.h"
#include "mlcore/hpo/plots.h"
#include "mlcore/hpo/progress.h"
#include "mlcore/hpo/study.h"
#include "mlcore/hpo/trials_table.h"

namespace mlcore::hpo {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::unique_ptr<Study> RunStudy(int n_trials, OptimizeOptions o = {}) {
  StudyOptions so;
  so.sampler = "random";
  so.sampler_options.seed = 3;
  auto study = std::move(Study::Create(so)).value();
  o.n_trials = n_trials;
  Status st = study->Optimize(
      [](Trial& t) -> StatusOr<double> {
        MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -1, 1));
        MLCORE_ASSIGN_OR_RETURN(
            ParamValue choice,
            t.SuggestCategorical("opt", {std::string("sgd"), std::string("adam")}));
        const std::string opt = std::get<std::string>(choice);
        MLCORE_RETURN_IF_ERROR(t.SetUserAttr("run", "\"r" + std::to_string(t.number()) + "\""));
        return (x - 0.2) * (x - 0.2) + (opt == "adam" ? 0.0 : 0.1);
      },
      o);
  EXPECT_TRUE(st.ok()) << st;
  // One failed trial, as an objective error leaves it.
  FrozenTrial failed;
  failed.state = TrialState::kFailed;
  failed.error = "diverged";
  EXPECT_TRUE(study->AddTrial(failed).ok());
  return study;
}

TEST(StudyReportTest, BestValueAndParamsAreTheBestTrials) {
  auto study = RunStudy(12);
  FrozenTrial best = study->BestTrial().value();
  EXPECT_EQ(study->BestValue().value(), best.value);
  EXPECT_EQ(study->BestParams().value(), best.params);
  StudyOptions empty;
  auto none = std::move(Study::Create(empty)).value();
  EXPECT_EQ(none->BestValue().status().code(), absl::StatusCode::kNotFound);
}

TEST(StudyReportTest, TrialsTableHasARowPerTrialAndTheUnionOfColumns) {
  auto study = RunStudy(10);
  TrialsTable table = TrialsTableOf(*study).value();
  EXPECT_EQ(table.columns,
            (std::vector<std::string>{"number", "state", "value", "params_opt", "params_x",
                                      "user_attrs_run", "duration", "error"}));
  ASSERT_EQ(table.rows.size(), 11u);
  for (size_t i = 0; i < table.rows.size(); ++i) {
    const auto& row = table.rows[i];
    EXPECT_EQ(row[0].get<int64_t>(), static_cast<int64_t>(i));
    if (row[1] == Json("complete")) {
      EXPECT_TRUE(row[2].is_number());
      EXPECT_EQ(row[5], Json("r" + std::to_string(i)));  // the attribute's JSON value
    } else {
      EXPECT_EQ(row[1], Json("failed"));
      EXPECT_TRUE(row[2].is_null());
      EXPECT_EQ(row[7], Json("diverged"));
    }
    if (!row[6].is_null()) EXPECT_GE(row[6].get<double>(), 0.0);
  }
  std::string csv = table.ToCsv();
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "number,state,value,params_opt,params_x,user_attrs_run,duration,error");
  EXPECT_EQ(Count(csv, "\n"), 12u);
}

TEST(StudyReportTest, PlotsDrawEveryCompleteTrial) {
  auto study = RunStudy(15);
  size_t complete = 0;
  const TrialList trials = study->Trials().value();  // kept: the loop must not outlive it
  for (const auto& t : trials) complete += t->state == TrialState::kComplete;
  std::string history = PlotOptimizationHistory(*study).value();
  EXPECT_EQ(history.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(Count(history, "<circle class=\"trial\""), complete);
  EXPECT_EQ(Count(history, "<polyline class=\"best\""), 1u);
  std::string parallel = PlotParallelCoordinate(*study).value();
  EXPECT_EQ(Count(parallel, "<polyline class=\"trial\""), complete);
  EXPECT_EQ(Count(parallel, "<line class=\"axis\""), 3u);  // opt, x, value
  EXPECT_NE(parallel.find(">opt</text>"), std::string::npos);
  EXPECT_EQ(PlotOptimizationHistory(*study, 1).status().code(), absl::StatusCode::kInvalidArgument);
  PlotOptions o;
  o.study_name = "<empty & new>";
  std::string empty = OptimizationHistorySvg({}, o);
  EXPECT_NE(empty.find("no complete trials"), std::string::npos);
  EXPECT_NE(empty.find("&lt;empty &amp; new&gt;"), std::string::npos);
}

TEST(StudyReportTest, ProgressCountsTrialsAndTheBestValue) {
  std::ostringstream out;
  ProgressOptions po;
  po.n_trials = 8;
  po.stream = &out;
  OptimizeProgress progress(po);
  OptimizeOptions o;
  o.callback = progress.Callback();
  auto study = RunStudy(8, o);
  progress.Close();
  EXPECT_EQ(progress.Fraction(), 1.0);
  std::string last = out.str().substr(out.str().rfind('\r') + 1);
  EXPECT_EQ(last.rfind("[##############################] 8/8 trials, ", 0), 0u) << last;
  EXPECT_NE(last.find(absl::StrFormat("best %.6g", study->BestValue().value())), std::string::npos)
      << last;
  EXPECT_EQ(Count(out.str(), "\r"), 9u);  // one redraw per trial and the final one
  (void)study;
}

constexpr char kExperimentYaml[] = R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: mnist   # a comment
spec:
  objective:
    type: maximize
    goal: 0.99
    objectiveMetricName: accuracy
  algorithm:
    algorithmName: random
  parallelTrialCount: 2
  maxTrialCount: 6
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.001", max: "0.1"}
  trialTemplate:
    trialParameters:
      - name: lr
        reference: lr
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: training-container
                image: docker.io/me/mnist:1
                command: [python, train.py, "--lr=${trialParameters.lr}"]
)";

TEST(KatibYamlTest, ReadsAnExperimentAsTheJsonReaderDoes) {
  KatibExperimentOptions o = KatibExperimentFromYaml(kExperimentYaml).value();
  EXPECT_EQ(o.name, "mnist");
  EXPECT_EQ(o.objective_metric, "accuracy");
  EXPECT_EQ(o.direction, StudyDirection::kMaximize);
  EXPECT_EQ(o.max_trial_count, 6);
  EXPECT_EQ(o.image, "docker.io/me/mnist:1");
  ASSERT_EQ(o.space.size(), 1u);
  EXPECT_EQ(o.space.params()[0].name, "lr");
}

TEST(KatibYamlTest, BadDocumentsAreInvalidArgumentNamingTheLineOrField) {
  auto bad = KatibExperimentFromYaml("metadata:\n  name: [unclosed\n");
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("line "), absl::string_view::npos) << bad.status();
  auto missing = KatibExperimentFromYaml("kind: Experiment\nmetadata: {name: e}\n");
  EXPECT_NE(missing.status().message().find("spec"), absl::string_view::npos) << missing.status();
  // An alias bomb is refused by size instead of expanding to billions of nodes.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [*" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + "]\n";
  }
  auto refused = KatibYamlToJson(bomb);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("nodes"), absl::string_view::npos);
}

}  // namespace
}  // namespace mlcore::hpo

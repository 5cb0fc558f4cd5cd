// Trial user attrs and study system attrs in both storages, and CMA-ES continuing its saved
// state in a study loaded by a new Study object (what a restarted process does).
#include <cmath>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"
#include "nlohmann/json.hpp"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

class AttrsTest : public ::testing::TestWithParam<bool> {};  // true: SQLite

TEST_P(AttrsTest, UserAttrsAndSystemAttrsAreStored) {
  store::testing::ScratchDir dir;
  StudyOptions o;
  o.name = "attrs";
  o.storage = GetParam() ? dir.Join("hpo.db") : "memory";
  o.sampler = "random";
  auto study = *Study::Create(o);
  auto trial = *study->Ask();
  ASSERT_TRUE(trial->SetUserAttr("run_id", "\"run-1\"").ok());
  ASSERT_TRUE(trial->SetUserAttr("n", "3").ok());
  ASSERT_TRUE(trial->SetUserAttr("n", "4").ok());  // replaced
  Status bad = trial->SetUserAttr("x", "not json");
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_NE(bad.message().find("'x'"), std::string::npos);
  EXPECT_EQ(trial->record().user_attrs.at("n"), "4");
  ASSERT_TRUE(study->Tell(*trial, 1.0).ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0]->user_attrs.at("run_id"), "\"run-1\"");
  EXPECT_EQ(trials[0]->user_attrs.at("n"), "4");
  ASSERT_TRUE(study->storage().SetStudySystemAttr(study->record().id, "k", "v1").ok());
  ASSERT_TRUE(study->storage().SetStudySystemAttr(study->record().id, "k", "v2").ok());
  auto attrs = *study->storage().GetStudySystemAttrs(study->record().id);
  EXPECT_EQ(attrs.at("k"), "v2");
  if (GetParam()) {  // another process's view
    StudyOptions again;
    again.name = "attrs";
    again.storage = dir.Join("hpo.db");
    auto loaded = *Study::Load(again);
    EXPECT_EQ((*loaded->Trials())[0]->user_attrs.at("run_id"), "\"run-1\"");
    EXPECT_EQ(loaded->storage().GetStudySystemAttrs(loaded->record().id)->at("k"), "v2");
    ASSERT_TRUE(loaded->storage().DeleteStudy("attrs").ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Storages, AttrsTest, ::testing::Bool());

// Plateaus make a generation's values tie, so CMA-ES restarts within a short run.
StatusOr<double> Steps(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -2, 2));
  MLCORE_ASSIGN_OR_RETURN(double y, t.SuggestFloat("y", 1e-2, 10, /*log=*/true));
  return std::floor(std::abs(x - 0.7)) + std::floor(std::abs(std::log10(y)) / 2);
}

StudyOptions CmaOptions(const std::string& path) {
  StudyOptions o;
  o.name = "cma";
  o.storage = path;
  o.sampler = "cmaes";
  o.sampler_options.seed = 11;
  o.sampler_options.cmaes_popsize = 4;
  return o;
}

using testing::Params;

TEST(CmaEsResumeTest, ALoadedStudyContinuesTheSavedRun) {
  store::testing::ScratchDir dir;
  OptimizeOptions all;
  all.n_trials = 40;
  auto whole = *Study::Create(CmaOptions(dir.Join("whole.db")));
  ASSERT_TRUE(whole->Optimize(Steps, all).ok());

  OptimizeOptions part;
  part.n_trials = 17;  // stops mid-generation (popsize 4)
  auto first = *Study::Create(CmaOptions(dir.Join("split.db")));
  ASSERT_TRUE(first->Optimize(Steps, part).ok());
  first.reset();  // the process is gone; only the store remains
  auto second = *Study::Load(CmaOptions(dir.Join("split.db")));
  part.n_trials = 23;
  ASSERT_TRUE(second->Optimize(Steps, part).ok());

  EXPECT_EQ(Params(*second), Params(*whole));
  auto attrs = *second->storage().GetStudySystemAttrs(second->record().id);
  ASSERT_EQ(attrs.count("cmaes:state"), 1u);
  auto state = nlohmann::json::parse(attrs.at("cmaes:state"));
  EXPECT_GE(state.at("restarts").get<int>(), 1) << "the run should have restarted at least once";
}

TEST(CmaEsResumeTest, ACorruptStateIsAClearError) {
  store::testing::ScratchDir dir;
  auto study = *Study::Create(CmaOptions(dir.Join("c.db")));
  OptimizeOptions o;
  o.n_trials = 3;
  ASSERT_TRUE(study->Optimize(Steps, o).ok());
  ASSERT_TRUE(study->storage().SetStudySystemAttr(study->record().id, "cmaes:state", "{oops").ok());
  study.reset();
  auto loaded = *Study::Load(CmaOptions(dir.Join("c.db")));
  auto trial = loaded->Ask();
  ASSERT_FALSE(trial.ok());
  EXPECT_TRUE(absl::IsDataLoss(trial.status())) << trial.status();
  EXPECT_NE(trial.status().message().find("cmaes:state"), std::string::npos);
}

TEST(SummarizeStudiesTest, CountsTrialsAndTheBestValue) {
  auto storage = NewInMemoryStorage();
  StudyOptions o;
  o.name = "max";
  o.direction = StudyDirection::kMaximize;
  o.sampler = "random";
  o.storage_object = storage;
  auto study = *Study::Create(o);
  for (double v : {0.5, 2.0, 1.0}) {
    auto t = *study->Ask();
    ASSERT_TRUE(study->Tell(*t, v).ok());
  }
  auto failed = *study->Ask();
  ASSERT_TRUE(study->Tell(*failed, TrialState::kFailed, std::nullopt, "boom").ok());
  auto running = *study->Ask();
  StudyOptions multi;
  multi.name = "multi";
  multi.directions = {StudyDirection::kMinimize, StudyDirection::kMinimize};
  multi.sampler = "random";
  multi.storage_object = storage;
  auto second = *Study::Create(multi);
  auto t = *second->Ask();
  ASSERT_TRUE(second->TellValues(*t, TrialState::kComplete, {1, 2}).ok());

  auto summaries = SummarizeStudies(*storage);
  ASSERT_TRUE(summaries.ok()) << summaries.status();
  ASSERT_EQ(summaries->size(), 2u);
  const StudySummary& s = (*summaries)[0];
  EXPECT_EQ(s.study.name, "max");
  EXPECT_EQ(s.trials, 5);
  EXPECT_EQ(s.complete, 3);
  EXPECT_EQ(s.running, 1);
  ASSERT_TRUE(s.best.has_value());
  EXPECT_EQ(*s.best, 2.0);
  EXPECT_EQ((*summaries)[1].complete, 1);
  EXPECT_FALSE((*summaries)[1].best.has_value());  // several objectives: no single best
}

}  // namespace
}  // namespace mlcore::hpo

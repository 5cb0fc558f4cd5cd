// Optimize stops at an error of the objective unless told to catch it (OptimizeOptions::
// catch_error, Python's optimize(catch=...)): a programming error such as low > high used to
// fail every trial while Optimize returned OK.
#include <atomic>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "mlcore/hpo/study.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

std::unique_ptr<Study> RandomStudy(const std::string& storage = "memory") {
  StudyOptions o;
  o.sampler = "random";
  o.sampler_options.seed = 1;
  o.storage = storage;
  if (storage != "memory") o.name = "catch";
  auto s = Study::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// Every trial asks for a range whose low is above its high.
StatusOr<double> LowAboveHigh(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", 1.0, 0.0));
  return x;
}

TEST(OptimizeCatchTest, AnErrorOfTheObjectiveStopsTheStudyWithThatError) {
  auto study = RandomStudy();
  OptimizeOptions o;
  o.n_trials = 20;
  Status s = study->Optimize(LowAboveHigh, o);
  ASSERT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("trial 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("low"), std::string::npos) << s;
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 1u);  // stopped at once, the trial recorded
  EXPECT_EQ(trials[0]->state, TrialState::kFailed);
  EXPECT_NE(trials[0]->error.find("low"), std::string::npos) << trials[0]->error;
}

TEST(OptimizeCatchTest, AThrownExceptionStopsTheStudyToo) {
  auto study = RandomStudy();
  OptimizeOptions o;
  o.n_trials = 5;
  Status s =
      study->Optimize([](Trial&) -> StatusOr<double> { throw std::runtime_error("boom"); }, o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("boom"), std::string::npos) << s;
  EXPECT_EQ(study->Trials()->size(), 1u);
}

TEST(OptimizeCatchTest, CaughtErrorsFailTheirTrialAndTheStudyGoesOn) {
  auto study = RandomStudy();
  OptimizeOptions o;
  o.n_trials = 6;
  o.catch_error = CatchAllErrors();
  ASSERT_TRUE(study->Optimize(LowAboveHigh, o).ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 6u);
  for (const auto& t : trials) EXPECT_EQ(t->state, TrialState::kFailed);
}

TEST(OptimizeCatchTest, CatchChoosesByStatusCode) {
  auto study = RandomStudy();
  OptimizeOptions o;
  o.n_trials = 10;
  o.catch_error = [](const Status& s) { return absl::IsUnavailable(s); };
  int calls = 0;
  Status s = study->Optimize(
      [&](Trial& t) -> StatusOr<double> {
        ++calls;
        if (calls <= 2) return absl::UnavailableError("the GPU went away");  // caught
        if (calls == 3) return absl::InternalError("a bug");                 // not caught
        return *t.SuggestFloat("x", 0, 1);
      },
      o);
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  EXPECT_NE(s.message().find("trial 2"), std::string::npos) << s;
  EXPECT_EQ(study->Trials()->size(), 3u);
}

TEST(OptimizeCatchTest, NonFiniteValuesAndPrunedTrialsNeverStopTheStudy) {
  auto study = RandomStudy();
  OptimizeOptions o;
  o.n_trials = 4;
  int calls = 0;
  ASSERT_TRUE(study
                  ->Optimize(
                      [&](Trial&) -> StatusOr<double> {
                        switch (calls++) {
                          case 0:
                            return std::nan("");
                          case 1:
                            return -INFINITY;
                          case 2:
                            return TrialPrunedError("pruned");
                          default:
                            return 1.0;
                        }
                      },
                      o)
                  .ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 4u);
  EXPECT_NE(trials[1]->error.find("returned -inf"), std::string::npos) << trials[1]->error;
  EXPECT_EQ(trials[2]->state, TrialState::kPruned);
  EXPECT_EQ(trials[3]->state, TrialState::kComplete);
}

TEST(OptimizeCatchTest, ParallelWorkersStopAfterTheFirstUncaughtErrorAndFinishTheirTrials) {
  store::testing::ScratchDir dir;
  auto study = RandomStudy(dir.Join("catch.db"));
  OptimizeOptions o;
  o.n_trials = 200;
  o.n_parallel = 4;
  std::atomic<int> calls{0};
  Status s = study->Optimize(
      [&](Trial& t) -> StatusOr<double> {
        if (calls.fetch_add(1) == 5) return absl::InvalidArgumentError("bad argument");
        return *t.SuggestFloat("x", 0, 1);
      },
      o);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  TrialList trials = *study->Trials();
  EXPECT_LT(trials.size(), 20u);  // stopped early; at most the running ones finished
  int failed = 0;
  for (const auto& t : trials) {
    EXPECT_NE(t->state, TrialState::kRunning) << "trial " << t->number << " left running";
    failed += t->state == TrialState::kFailed;
  }
  EXPECT_EQ(failed, 1);
}

}  // namespace
}  // namespace mlcore::hpo

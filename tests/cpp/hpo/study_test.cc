#include "mlcore/hpo/study.h"

#include <cmath>
#include <set>
#include <stdexcept>
#include <thread>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"

namespace mlcore::hpo {
namespace {

std::unique_ptr<Study> NewStudy(const std::string& sampler = "tpe", uint64_t seed = 1,
                                StudyDirection direction = StudyDirection::kMinimize) {
  return testing::SeededStudy(sampler, seed, std::nullopt, direction);
}

StatusOr<double> Quadratic(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -10, 10));
  MLCORE_ASSIGN_OR_RETURN(int64_t n, t.SuggestInt("n", 0, 10));
  return (x - 2) * (x - 2) + static_cast<double>((n - 3) * (n - 3));
}

TEST(StudyTest, AskTellRecordsTrials) {
  auto study = NewStudy();
  auto trial = *study->Ask();
  EXPECT_EQ(trial->number(), 0);
  double x = *trial->SuggestFloat("x", 0, 1);
  EXPECT_EQ(*trial->SuggestFloat("x", 0, 1), x);  // same name, same value
  auto changed = trial->SuggestFloat("x", 0, 2);
  ASSERT_FALSE(changed.ok());
  EXPECT_NE(changed.status().message().find("parameter 'x' of trial 0"), std::string::npos);
  EXPECT_FALSE(trial->SuggestFloat("bad", 1, 0).ok());
  ASSERT_TRUE(trial->Report(0.5, 1).ok());
  ASSERT_TRUE(study->Tell(*trial, 0.25).ok());
  // Telling twice is refused: the result is already recorded.
  EXPECT_TRUE(absl::IsFailedPrecondition(study->Tell(*trial, 0.1)));
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0]->state, TrialState::kComplete);
  EXPECT_EQ(trials[0]->value, 0.25);
  EXPECT_EQ(std::get<double>(trials[0]->params.at("x")), x);
  EXPECT_EQ(trials[0]->intermediate_values.at(1), 0.5);
  EXPECT_EQ(study->BestTrial()->number, 0);
}

TEST(StudyTest, CaughtFailuresFailTheTrialNotTheStudy) {
  auto study = NewStudy("random");
  int calls = 0;
  OptimizeOptions o;
  o.n_trials = 6;
  o.catch_error = CatchAllErrors();
  Status s = study->Optimize(
      [&](Trial& t) -> StatusOr<double> {
        int k = calls++;
        double x = *t.SuggestFloat("x", 0, 1);
        if (k == 0) throw std::runtime_error("boom");
        if (k == 1) return std::nan("");
        if (k == 2) return INFINITY;
        if (k == 3) return absl::InternalError("cuda out of memory");
        return x;
      },
      o);
  ASSERT_TRUE(s.ok()) << s;
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[0]->state, TrialState::kFailed);
  EXPECT_NE(trials[0]->error.find("boom"), std::string::npos) << trials[0]->error;
  EXPECT_NE(trials[1]->error.find("nan"), std::string::npos);
  EXPECT_NE(trials[2]->error.find("inf"), std::string::npos);
  EXPECT_NE(trials[3]->error.find("cuda out of memory"), std::string::npos);
  EXPECT_EQ(trials[4]->state, TrialState::kComplete);
  EXPECT_EQ(trials[5]->state, TrialState::kComplete);
}

TEST(StudyTest, StopConditions) {
  {  // max_failed_trials
    auto study = NewStudy("random");
    OptimizeOptions o;
    o.n_trials = 100;
    o.max_failed_trials = 3;
    o.catch_error = CatchAllErrors();
    ASSERT_TRUE(
        study->Optimize([](Trial&) -> StatusOr<double> { return absl::UnknownError("x"); }, o)
            .ok());
    EXPECT_EQ(study->Trials()->size(), 3u);
  }
  {  // goal
    auto study = NewStudy("random");
    OptimizeOptions o;
    o.n_trials = 100;
    o.goal = 5;
    int n = 0;
    ASSERT_TRUE(study->Optimize([&](Trial&) -> StatusOr<double> { return 10.0 - n++; }, o).ok());
    EXPECT_EQ(study->Trials()->size(), 6u);  // 10, 9, 8, 7, 6, 5
  }
  {  // goal when maximising: reached at or above it
    auto study = NewStudy("random", 1, StudyDirection::kMaximize);
    OptimizeOptions o;
    o.n_trials = 100;
    o.goal = 5;
    int n = 0;
    ASSERT_TRUE(study->Optimize([&](Trial&) -> StatusOr<double> { return 2.5 + n++; }, o).ok());
    EXPECT_EQ(study->Trials()->size(), 4u);  // 2.5, 3.5, 4.5, 5.5
    EXPECT_EQ(*study->BestValue(), 5.5);
  }
  {  // max_trials counts the whole study
    auto study = NewStudy("random");
    OptimizeOptions o;
    o.n_trials = 3;
    ASSERT_TRUE(study->Optimize(Quadratic, o).ok());
    o.n_trials = 100;
    o.max_trials = 5;
    ASSERT_TRUE(study->Optimize(Quadratic, o).ok());
    EXPECT_EQ(study->Trials()->size(), 5u);
  }
  {  // timeout
    auto study = NewStudy("random");
    OptimizeOptions o;
    o.timeout = absl::Milliseconds(200);
    absl::Time start = absl::Now();
    ASSERT_TRUE(study
                    ->Optimize(
                        [](Trial& t) -> StatusOr<double> {
                          absl::SleepFor(absl::Milliseconds(20));
                          return 1.0;
                        },
                        o)
                    .ok());
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    EXPECT_GE(study->Trials()->size(), 3u);
  }
  {  // Stop() from a callback
    auto study = NewStudy("random");
    OptimizeOptions o;
    o.n_trials = 50;
    Study* raw = study.get();
    o.callback = [&](const FrozenTrial& t) {
      if (t.number == 3) raw->Stop();
    };
    ASSERT_TRUE(study->Optimize(Quadratic, o).ok());
    EXPECT_EQ(study->Trials()->size(), 4u);
  }
}

TEST(StudyDirectionTest, IsBetterIsStrictPerDirectionAndFalseOnNaN) {
  const double nan = std::nan("");
  EXPECT_TRUE(IsBetter(StudyDirection::kMinimize, 1, 2));
  EXPECT_FALSE(IsBetter(StudyDirection::kMinimize, 2, 1));
  EXPECT_FALSE(IsBetter(StudyDirection::kMinimize, 1, 1));
  EXPECT_TRUE(IsBetter(StudyDirection::kMaximize, 2, 1));
  EXPECT_FALSE(IsBetter(StudyDirection::kMaximize, 1, 2));
  EXPECT_FALSE(IsBetter(StudyDirection::kMaximize, 1, 1));
  for (StudyDirection d : {StudyDirection::kMinimize, StudyDirection::kMaximize}) {
    EXPECT_FALSE(IsBetter(d, nan, 1));
    EXPECT_FALSE(IsBetter(d, 1, nan));
  }
}

TEST(StudyTest, ParallelTrialsGetUniqueNumbers) {
  StudyOptions so;
  so.sampler_options.seed = 3;
  so.sampler_options.constant_liar = true;
  auto study = *Study::Create(so);
  OptimizeOptions o;
  o.n_trials = 40;
  o.n_parallel = 4;
  std::atomic<int> running{0}, max_running{0};
  ASSERT_TRUE(study
                  ->Optimize(
                      [&](Trial& t) -> StatusOr<double> {
                        int now = ++running;
                        int seen = max_running.load();
                        while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
                        }
                        absl::SleepFor(absl::Milliseconds(5));
                        --running;
                        return Quadratic(t);
                      },
                      o)
                  .ok());
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 40u);
  std::set<int64_t> numbers;
  for (const auto& t : trials) {
    numbers.insert(t->number);
    EXPECT_EQ(t->state, TrialState::kComplete);
  }
  EXPECT_EQ(numbers.size(), 40u);
  EXPECT_EQ(*numbers.rbegin(), 39);
  EXPECT_GT(max_running.load(), 1);
}

TEST(StudyTest, EnqueueAndAddTrialToAFinishedStudy) {
  auto study = NewStudy();
  ASSERT_TRUE(study->Enqueue({{"x", 1.5}, {"n", int64_t{3}}}).ok());
  OptimizeOptions o;
  o.n_trials = 2;
  ASSERT_TRUE(study->Optimize(Quadratic, o).ok());
  TrialList trials = *study->Trials();
  EXPECT_EQ(std::get<double>(trials[0]->params.at("x")), 1.5);
  EXPECT_EQ(trials[0]->value, 0.25);

  FrozenTrial done;
  done.state = TrialState::kComplete;
  done.value = -1;
  done.has_value = true;
  done.params["x"] = 2.0;
  done.distributions.emplace("x", *Distribution::Float(-10, 10));
  auto added = study->AddTrial(done);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->number, 2);
  EXPECT_EQ(study->BestTrial()->number, 2);
  done.params["x"] = 20.0;  // outside its distribution
  EXPECT_TRUE(absl::IsInvalidArgument(study->AddTrial(done).status()));
  done.params["x"] = 2.0;
  done.has_value = false;
  EXPECT_FALSE(study->AddTrial(done).ok());
}

TEST(StudyTest, DeclaredSpaceWithConditions) {
  SearchSpace space;
  ASSERT_TRUE(
      space.Add("opt", *Distribution::Categorical({std::string("sgd"), std::string("adam")})).ok());
  ASSERT_TRUE(
      space.Add("momentum", *Distribution::Float(0, 1), Condition{"opt", {std::string("sgd")}})
          .ok());
  auto study = testing::SeededStudy("random", 5, space);
  int sgd = 0, adam = 0;
  for (int i = 0; i < 20; ++i) {
    auto t = *study->Ask();
    auto params = t->params();
    if (std::get<std::string>(params.at("opt")) == "sgd") {
      ++sgd;
      EXPECT_EQ(params.count("momentum"), 1u);
    } else {
      ++adam;
      EXPECT_EQ(params.count("momentum"), 0u);
    }
    ASSERT_TRUE(study->Tell(*t, 1.0).ok());
  }
  EXPECT_GT(sgd, 0);
  EXPECT_GT(adam, 0);
}

TEST(StudyTest, UnknownNamesAreClearErrors) {
  StudyOptions so;
  so.sampler = "nope";
  auto s = Study::Create(so);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("unknown sampler 'nope'"), std::string::npos);
  so.sampler = "tpe";
  so.pruner = "nah";
  EXPECT_FALSE(Study::Create(so).ok());
  so.pruner = "none";
  so.storage = "redis://x";
  EXPECT_TRUE(absl::IsInvalidArgument(Study::Create(so).status()));
}

}  // namespace
}  // namespace mlcore::hpo

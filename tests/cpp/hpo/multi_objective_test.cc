// Multi-objective studies: Pareto dominance, the front, NSGA-II breeding, and values kept by both
// storages.
#include <cmath>
#include <set>

#include "gtest/gtest.h"
#include "mlcore/hpo/nsga2_sampler.h"
#include "mlcore/hpo/pareto.h"
#include "mlcore/hpo/study.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using store::testing::ScratchDir;
const std::vector<StudyDirection> kMinMax = {StudyDirection::kMinimize, StudyDirection::kMaximize};

TEST(ParetoTest, DominanceFollowsEachDirection) {
  EXPECT_TRUE(Dominates({1, 5}, {2, 4}, kMinMax));
  EXPECT_FALSE(Dominates({1, 4}, {2, 5}, kMinMax));  // better in one, worse in the other
  EXPECT_FALSE(Dominates({1, 5}, {1, 5}, kMinMax));  // equal: neither dominates
  EXPECT_TRUE(Dominates({1, 5}, {1, 4}, kMinMax));
  EXPECT_FALSE(Dominates({1}, {2, 4}, kMinMax));
}

TEST(ParetoTest, SortsIntoFrontsAndCrowding) {
  const std::vector<StudyDirection> min2 = {StudyDirection::kMinimize, StudyDirection::kMinimize};
  std::vector<std::vector<double>> points = {{1, 4}, {2, 2}, {4, 1}, {3, 3}, {5, 5}, {4, 2}};
  auto fronts = NonDominatedSort(points, min2);
  ASSERT_EQ(fronts.size(), 3u);
  EXPECT_EQ(fronts[0], (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(fronts[1], (std::vector<int>{3, 5}));
  EXPECT_EQ(fronts[2], (std::vector<int>{4}));
  std::vector<double> crowding = CrowdingDistance(points, fronts[0]);
  EXPECT_TRUE(std::isinf(crowding[0]));
  EXPECT_TRUE(std::isinf(crowding[2]));
  // The middle point: (4 - 1) / 3 + (4 - 1) / 3 = 2.
  EXPECT_DOUBLE_EQ(crowding[1], 2.0);
}

StatusOr<std::vector<double>> Schaffer(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -2, 4));
  MLCORE_ASSIGN_OR_RETURN(ParamValue c,
                          t.SuggestCategorical("shift", {std::string("none"), std::string("up")}));
  double up = std::get<std::string>(c) == "up" ? 1.0 : 0.0;
  // minimize x^2 + up, maximize -(x - 2)^2 - up: the front is x in [0, 2] with no shift.
  return std::vector<double>{x * x + up, -(x - 2) * (x - 2) - up};
}

void ExpectFrontOfSchaffer(Study& study) {
  TrialList front = *study.BestTrials();
  ASSERT_FALSE(front.empty());
  TrialList all = *study.Trials();
  for (const auto& f : front) {
    ASSERT_EQ(f->values.size(), 2u);
    for (const auto& t : all) {
      if (t->state == TrialState::kComplete) EXPECT_FALSE(Dominates(t->values, f->values, kMinMax));
    }
  }
}

TEST(MultiObjectiveTest, Nsga2FindsTheFrontAndIsReproducible) {
  auto run = [](uint64_t seed) {
    StudyOptions o;
    o.directions = kMinMax;
    o.sampler = "nsga2";
    o.sampler_options.seed = seed;
    auto study = *Study::Create(o);
    OptimizeOptions opt;
    opt.n_trials = 200;
    EXPECT_TRUE(study->OptimizeMultiObjective(Schaffer, opt).ok());
    return study;
  };
  auto a = run(7);
  auto b = run(7);
  ExpectFrontOfSchaffer(*a);
  TrialList ta = *a->Trials(), tb = *b->Trials();
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) EXPECT_EQ(ta[i]->params, tb[i]->params);
  // Later generations breed from the front: most of the last generation (50) is on x in
  // [0, 2] without the shift, where random sampling puts a sixth of its trials.
  int good = 0;
  for (size_t i = 150; i < ta.size(); ++i) {
    double x = std::get<double>(ta[i]->params.at("x"));
    if (x >= -0.1 && x <= 2.1 && std::get<std::string>(ta[i]->params.at("shift")) == "none") {
      ++good;
    }
  }
  EXPECT_GT(good, 30);
}

TEST(MultiObjectiveTest, ValuesSurviveTheSqliteStore) {
  ScratchDir dir;
  StudyOptions o;
  o.name = "mo";
  o.storage = dir.Join("hpo.db");
  o.directions = kMinMax;  // default sampler "tpe" becomes nsga2
  o.sampler_options.seed = 3;
  {
    auto study = *Study::Create(o);
    EXPECT_EQ(study->sampler().name(), "nsga2");
    OptimizeOptions opt;
    opt.n_trials = 20;
    ASSERT_TRUE(study->OptimizeMultiObjective(Schaffer, opt).ok());
    auto t = *study->Ask();
    ASSERT_TRUE(study->TellValues(*t, TrialState::kComplete, {1.0}).ok());  // wrong count
    EXPECT_EQ(t->record().state, TrialState::kFailed);
    EXPECT_NE(t->record().error.find("1 values; the study has 2"), std::string::npos);
    EXPECT_TRUE(absl::IsFailedPrecondition(study->BestTrial().status()));
  }
  StudyOptions lo;
  lo.name = "mo";
  lo.storage = dir.Join("hpo.db");
  auto study = Study::Load(lo);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ((*study)->directions(), kMinMax);
  EXPECT_EQ((*study)->sampler().name(), "nsga2");
  TrialList trials = *(*study)->Trials();
  ASSERT_EQ(trials.size(), 21u);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(trials[i]->values.size(), 2u);
    double x = std::get<double>(trials[i]->params.at("x"));
    double up = std::get<std::string>(trials[i]->params.at("shift")) == "up" ? 1.0 : 0.0;
    EXPECT_DOUBLE_EQ(trials[i]->values[0], x * x + up);
    EXPECT_DOUBLE_EQ(trials[i]->values[1], -(x - 2) * (x - 2) - up);
    EXPECT_DOUBLE_EQ(trials[i]->value, trials[i]->values[0]);
  }
  ExpectFrontOfSchaffer(**study);
}

TEST(MultiObjectiveTest, RefusesWhatNeedsOneObjective) {
  StudyOptions o;
  o.directions = kMinMax;
  o.sampler = "tpe";
  o.sampler_options.seed = 0;
  o.pruner = "median";
  EXPECT_TRUE(absl::IsInvalidArgument(Study::Create(o).status()));  // pruner
  o.pruner = "none";
  o.sampler_object = *CreateSampler("tpe");
  auto s = Study::Create(o);
  ASSERT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_NE(s.status().message().find("sampler 'tpe'"), std::string::npos);
  o.sampler_object = nullptr;
  auto study = *Study::Create(o);
  OptimizeOptions opt;
  opt.n_trials = 1;
  EXPECT_TRUE(absl::IsInvalidArgument(
      study->Optimize([](Trial&) -> StatusOr<double> { return 1.0; }, opt)));
  opt.goal = 0.0;
  EXPECT_TRUE(absl::IsInvalidArgument(study->OptimizeMultiObjective(Schaffer, opt)));
  EXPECT_TRUE(absl::IsInvalidArgument(NewNsga2Sampler({.population_size = 1}).status()));
}

TEST(MultiObjectiveTest, SingleObjectiveBestTrialsAreTheTies) {
  auto study = *Study::Create(StudyOptions());
  for (double v : {3.0, 1.0, 2.0, 1.0}) {
    auto t = *study->Ask();
    ASSERT_TRUE(study->Tell(*t, v).ok());
  }
  TrialList best = *study->BestTrials();
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0]->number, 1);
  EXPECT_EQ(best[1]->number, 3);
  EXPECT_EQ(best[0]->values, std::vector<double>{1.0});
}

TEST(MultiObjectiveTest, Nsga2OptionsComeThroughTheRegistry) {
  SamplerOptions o;
  o.nsga2_population_size = 1;
  auto small = CreateSampler("nsga2", o);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("population_size must be >= 2, got 1"),
            std::string::npos);
  o.nsga2_population_size = 8;
  o.nsga2_crossover_prob = 1.5;
  EXPECT_NE(CreateSampler("nsga2", o).status().message().find("crossover_prob"), std::string::npos);
  o.nsga2_crossover_prob = 0.8;
  o.nsga2_mutation_prob = -0.1;
  EXPECT_NE(CreateSampler("nsga2", o).status().message().find("mutation_prob"), std::string::npos);
  o.nsga2_mutation_prob = 0.2;
  EXPECT_TRUE(CreateSampler("nsga2", o).ok());
}

}  // namespace
}  // namespace mlcore::hpo

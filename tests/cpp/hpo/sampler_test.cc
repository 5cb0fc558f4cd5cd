#include "mlcore/hpo/sampler.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

using testing::Branin;
using testing::Mixed;

std::vector<std::map<std::string, ParamValue>> RunParams(const std::string& sampler, uint64_t seed,
                                                         bool multivariate, const Objective& f,
                                                         int n) {
  SamplerOptions options;
  options.seed = seed;
  options.multivariate = multivariate;
  return testing::Params(*testing::RunStudy(sampler, std::move(options), f, n));
}

double BestValue(const std::string& sampler, uint64_t seed, bool multivariate, const Objective& f,
                 int n) {
  SamplerOptions options;
  options.seed = seed;
  options.multivariate = multivariate;
  return testing::RunStudy(sampler, std::move(options), f, n)->BestTrial()->value;
}

TEST(SamplerTest, SeededSamplersAreReproducible) {
  for (const char* name : {"random", "tpe"}) {
    for (bool multivariate : {false, true}) {
      auto a = RunParams(name, 42, multivariate, Mixed, 30);
      auto b = RunParams(name, 42, multivariate, Mixed, 30);
      auto c = RunParams(name, 43, multivariate, Mixed, 30);
      EXPECT_EQ(a, b) << name;
      EXPECT_NE(a, c) << name;
    }
  }
}

TEST(SamplerTest, SamplesStayInsideTheSpace) {
  for (const char* name : {"random", "tpe"}) {
    auto runs = RunParams(name, 7, true, Mixed, 60);
    for (const auto& params : runs) {
      double x = std::get<double>(params.at("x"));
      int64_t n = std::get<int64_t>(params.at("n"));
      EXPECT_GE(x, 1e-4);
      EXPECT_LE(x, 1.0);
      EXPECT_EQ(n % 2, 1) << n;
      EXPECT_GE(n, 1);
      EXPECT_LE(n, 9);
    }
  }
}

TEST(SamplerTest, TpeBeatsRandomOnAverage) {
  double tpe = 0, tpe_mv = 0, random = 0;
  const int seeds = 5;
  for (int s = 0; s < seeds; ++s) {
    tpe += BestValue("tpe", s, false, Branin, 60) / seeds;
    tpe_mv += BestValue("tpe", s, true, Branin, 60) / seeds;
    random += BestValue("random", s, false, Branin, 60) / seeds;
  }
  // Branin's minimum is 0.398.
  EXPECT_LT(tpe, random);
  EXPECT_LT(tpe_mv, random);
  EXPECT_LT(tpe, 1.5);
}

TEST(SamplerTest, GridCoversEveryPointOnceThenStops) {
  SearchSpace grid;
  ASSERT_TRUE(grid.Add("a", *Distribution::Int(0, 2)).ok());
  ASSERT_TRUE(grid.Add("b", *Distribution::Float(0, 1, false, 0.5)).ok());
  ASSERT_TRUE(grid.Add("c", *Distribution::Categorical({true, false})).ok());
  auto study = testing::SeededStudy("grid", 1, grid);
  ASSERT_TRUE(
      study->Optimize([](Trial&) -> StatusOr<double> { return 1.0; }, testing::NTrials(100, 3))
          .ok());
  TrialList trials = *study->Trials();
  std::set<std::string> seen;
  for (const auto& t : trials) {
    seen.insert(ParamValueToString(t->params.at("a")) + "/" +
                ParamValueToString(t->params.at("b")) + "/" +
                ParamValueToString(t->params.at("c")));
  }
  EXPECT_EQ(seen.size(), 18u);
  EXPECT_EQ(trials.size(), 18u);  // each point once, also with 3 workers racing the end

  SearchSpace continuous;
  ASSERT_TRUE(continuous.Add("x", *Distribution::Float(0, 1)).ok());
  auto bad = testing::SeededStudy("grid", 1, continuous);
  auto t = bad->Ask();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("needs a step"), std::string::npos) << t.status();
}

TEST(SamplerTest, ConstantLiarSpreadsParallelAsks) {
  // Ten running trials at once: with the liar, TPE does not hand the same region to all.
  StudyOptions so;
  so.sampler = "tpe";
  so.sampler_options.seed = 11;
  so.sampler_options.constant_liar = true;
  so.sampler_options.n_startup_trials = 5;
  auto study = *Study::Create(so);
  for (int i = 0; i < 20; ++i) {
    auto t = *study->Ask();
    double x = *t->SuggestFloat("x", 0, 1);
    ASSERT_TRUE(study->Tell(*t, (x - 0.3) * (x - 0.3)).ok());
  }
  std::vector<std::shared_ptr<Trial>> running;
  std::set<int> buckets;
  for (int i = 0; i < 10; ++i) {
    running.push_back(*study->Ask());
    buckets.insert(static_cast<int>(*running.back()->SuggestFloat("x", 0, 1) * 100));
  }
  EXPECT_GT(buckets.size(), 5u);
}

TEST(SamplerTest, RegistryListsAndRejects) {
  auto names = SamplerNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "tpe"), names.end());
  EXPECT_FALSE(CreateSampler("gp-typo").ok());
  SamplerOptions bad;
  bad.gamma = 0;
  EXPECT_FALSE(CreateSampler("tpe", bad).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(RegisterSampler("random", nullptr)));
  EXPECT_NE(TrialSeed(1, 2, "x"), TrialSeed(1, 3, "x"));
}

}  // namespace
}  // namespace mlcore::hpo

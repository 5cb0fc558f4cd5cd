#include <cmath>
#include <set>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

// A shifted, badly scaled 4-D quadratic: the case CMA-ES's covariance adapts to.
StatusOr<double> Ellipsoid(Trial& t) {
  double v = 0;
  for (int i = 0; i < 4; ++i) {
    MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x" + std::to_string(i), -5, 5));
    v += std::pow(10.0, i) * (x - 1.5) * (x - 1.5);
  }
  return v;
}

StatusOr<double> WithIntAndCategory(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", 1e-3, 10, /*log=*/true));
  MLCORE_ASSIGN_OR_RETURN(int64_t n, t.SuggestInt("n", 0, 30, false, 3));
  MLCORE_ASSIGN_OR_RETURN(ParamValue c, t.SuggestCategorical("c", {int64_t{1}, int64_t{2}}));
  return std::pow(std::log10(x), 2) + std::abs(static_cast<double>(n) - 12) +
         static_cast<double>(std::get<int64_t>(c));
}

std::unique_ptr<Study> RunStudy(const std::string& sampler, uint64_t seed, const Objective& f,
                                int n, int popsize = 0) {
  SamplerOptions options;
  options.seed = seed;
  options.cmaes_popsize = popsize;
  return testing::RunStudy(sampler, std::move(options), f, n);
}

using testing::Params;

TEST(CmaEsSamplerTest, BeatsRandomSearchOnAnIllConditionedQuadratic) {
  double cma = 0, random = 0;
  const int seeds = 5;
  for (int s = 0; s < seeds; ++s) {
    cma += RunStudy("cmaes", s, Ellipsoid, 200)->BestTrial()->value / seeds;
    random += RunStudy("random", s, Ellipsoid, 200)->BestTrial()->value / seeds;
  }
  EXPECT_LT(cma, random / 3) << cma << " vs random " << random;
}

TEST(CmaEsSamplerTest, SeededRunsAreReproducibleAndStayOnTheGrid) {
  auto a = RunStudy("cmaes", 8, WithIntAndCategory, 40);
  auto b = RunStudy("cmaes", 8, WithIntAndCategory, 40);
  auto c = RunStudy("cmaes", 9, WithIntAndCategory, 40);
  EXPECT_EQ(Params(*a), Params(*b));
  EXPECT_NE(Params(*a), Params(*c));
  std::set<int64_t> categories;
  for (const auto& p : Params(*a)) {
    double x = std::get<double>(p.at("x"));
    int64_t n = std::get<int64_t>(p.at("n"));
    EXPECT_GE(x, 1e-3);
    EXPECT_LE(x, 10);
    EXPECT_EQ(n % 3, 0) << n;
    EXPECT_GE(n, 0);
    EXPECT_LE(n, 30);
    categories.insert(std::get<int64_t>(p.at("c")));
  }
  // The categorical parameter is sampled at random, so both choices appear.
  EXPECT_EQ(categories.size(), 2u);
  EXPECT_LT(a->BestTrial()->value, 3.5);
}

TEST(CmaEsSamplerTest, RestartsExploreAgainAfterConvergence) {
  // A 1-D quadratic converges within a few generations of 4; with restarts (IPOP) later trials
  // search far from the optimum again, without them they stay next to it.
  auto spread = [](bool restarts) {
    SamplerOptions options;
    options.seed = 1;
    options.cmaes_popsize = 4;
    options.cmaes_restarts = restarts;
    auto study = testing::RunStudy(
        "cmaes", options,
        [](Trial& t) -> StatusOr<double> {
          MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", 0, 1));
          return (x - 0.3) * (x - 0.3);
        },
        400);
    double far = 0;
    TrialList trials = *study->Trials();
    for (size_t i = 300; i < trials.size(); ++i) {
      far = std::max(far, std::abs(std::get<double>(trials[i]->params.at("x")) - 0.3));
    }
    return far;
  };
  EXPECT_GT(spread(true), 0.05);
  EXPECT_LT(spread(false), 0.01);
}

// A 6-D ellipsoid with axis scales from 1 to 1e5, rotated 45 degrees in each pair of
// coordinates so the covariance has to learn the correlations, not only the scales.
StatusOr<double> RotatedEllipsoid(Trial& t) {
  double x[6];
  for (int i = 0; i < 6; ++i) {
    MLCORE_ASSIGN_OR_RETURN(x[i], t.SuggestFloat("x" + std::to_string(i), -1, 1));
  }
  double v = 0;
  for (int i = 0; i < 6; i += 2) {
    const double a = (x[i] + x[i + 1] - 0.4) / std::sqrt(2.0);
    const double b = (x[i] - x[i + 1]) / std::sqrt(2.0);
    v += std::pow(10.0, i) * a * a + std::pow(10.0, i + 1) * b * b;
  }
  return v;
}

TEST(CmaEsSamplerTest, ActiveUpdateAdaptsFasterOnAnIllConditionedEllipsoid) {
  // The covariance update takes the worse half of each generation with negative weights
  // (Hansen's active CMA-ES, as the `cmaes` package behind Optuna's CmaEsSampler): it shrinks
  // the variance along directions that did badly, so the distribution reaches the ellipsoid's
  // shape in fewer generations. Geometric mean of the best value over 8 seeds, 240 trials
  // (26 generations of 9); 11.8 with them, 22.6 without.
  double log_sum = 0;
  const int seeds = 8;
  for (int s = 0; s < seeds; ++s) {
    log_sum += std::log(RunStudy("cmaes", s, RotatedEllipsoid, 240)->BestTrial()->value);
  }
  const double geo_mean = std::exp(log_sum / seeds);
  EXPECT_LT(geo_mean, 16) << "without the active update it is about 22.6";
}

TEST(CmaEsSamplerTest, RejectsBadOptions) {
  SamplerOptions o;
  o.cmaes_sigma0 = 0;
  auto s = CreateSampler("cmaes", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("cmaes_sigma0"), std::string::npos);
  o.cmaes_sigma0 = 0.3;
  o.cmaes_popsize = 1;
  s = CreateSampler("cmaes", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("cmaes_popsize"), std::string::npos);
}

}  // namespace
}  // namespace mlcore::hpo

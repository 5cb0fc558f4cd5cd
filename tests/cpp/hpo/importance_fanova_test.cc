#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "mlcore/hpo/importance.h"

namespace mlcore::hpo {
namespace {

// 10 x^2 + 3 y + (1 when c is "b"); z does nothing. x in [-1, 1], y in [0, 1]: the main
// effects' variances are 100 * 4/45 = 8.9, 9/12 = 0.75 and 0.25.
std::vector<FrozenTrial> Trials(int n, uint32_t seed) {
  Distribution x = *Distribution::Float(-1, 1);
  Distribution y = *Distribution::Float(0, 1);
  Distribution z = *Distribution::Float(1e-3, 1, /*log=*/true);
  Distribution c = *Distribution::Categorical({std::string("a"), std::string("b")});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<FrozenTrial> trials;
  for (int i = 0; i < n; ++i) {
    FrozenTrial t;
    t.number = i;
    t.state = TrialState::kComplete;
    const double xv = -1 + 2 * u(rng), yv = u(rng), zv = std::pow(10.0, -3 * u(rng));
    const bool b = u(rng) < 0.5;
    t.params = {{"x", xv}, {"y", yv}, {"z", zv}, {"c", std::string(b ? "b" : "a")}};
    t.distributions = {{"x", x}, {"y", y}, {"z", z}, {"c", c}};
    t.value = 10 * xv * xv + 3 * yv + (b ? 1.0 : 0.0);
    t.values = {t.value};
    t.has_value = true;
    trials.push_back(std::move(t));
  }
  return trials;
}

TEST(FanovaImportancesTest, RanksTheMainEffectsAndSumsToOne) {
  auto imp = *FanovaImportances(Trials(200, 1));
  ASSERT_EQ(imp.size(), 4u);
  EXPECT_EQ(imp[0].first, "x");
  EXPECT_GT(imp[0].second, 0.7);
  EXPECT_EQ(imp[3].first, "z");
  double sum = 0;
  for (const auto& [name, v] : imp) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  // y and c far below x, both well above z (nothing).
  double y = 0, c = 0, z = 0;
  for (const auto& [name, v] : imp) {
    if (name == "y") y = v;
    if (name == "c") c = v;
    if (name == "z") z = v;
  }
  EXPECT_GT(y, 3 * z);
  EXPECT_GT(c, 3 * z);
}

TEST(FanovaImportancesTest, SameSeedSameNumbers) {
  auto trials = Trials(60, 2);
  FanovaOptions o;
  o.seed = 7;
  o.n_trees = 8;
  EXPECT_EQ(*FanovaImportances(trials, o), *FanovaImportances(trials, o));
}

TEST(FanovaImportancesTest, LeavesOutConditionalParametersAndRefusesBadOptions) {
  auto trials = Trials(30, 3);
  trials[0].params.erase("z");
  trials[0].distributions.erase("z");
  auto imp = *FanovaImportances(trials);
  EXPECT_EQ(imp.size(), 3u);
  for (const auto& [name, v] : imp) EXPECT_NE(name, "z");
  FanovaOptions bad;
  bad.n_trees = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(FanovaImportances(trials, bad).status()));
  EXPECT_TRUE(FanovaImportances({}).ok());
  EXPECT_TRUE(FanovaImportances({})->empty());
}

}  // namespace
}  // namespace mlcore::hpo

#include "mlcore/hpo/importance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace mlcore::hpo {
namespace {

FrozenTrial Complete(std::map<std::string, ParamValue> params,
                     std::map<std::string, Distribution> dists, std::vector<double> values) {
  FrozenTrial t;
  t.state = TrialState::kComplete;
  t.params = std::move(params);
  t.distributions = std::move(dists);
  t.values = std::move(values);
  t.value = t.values[0];
  t.has_value = true;
  return t;
}

// y depends on x only; z is noise that does not move y.
std::vector<FrozenTrial> XMatters() {
  Distribution x = *Distribution::Float(1e-3, 1.0, /*log=*/true);
  Distribution z = *Distribution::Categorical({std::string("a"), std::string("b")});
  std::vector<FrozenTrial> trials;
  for (int i = 0; i < 40; ++i) {
    const double xv = std::pow(10.0, -3.0 + 3.0 * ((i * 7) % 40) / 39.0);
    const std::string zv = i % 2 ? "a" : "b";
    trials.push_back(Complete({{"x", xv}, {"z", zv}}, {{"x", x}, {"z", z}},
                              {std::log10(xv) * std::log10(xv), -static_cast<double>(i)}));
  }
  return trials;
}

TEST(ParamImportancesTest, FindsTheParameterThatMattersAndSumsToOne) {
  auto imp = *ParamImportances(XMatters());
  ASSERT_EQ(imp.size(), 2u);
  EXPECT_EQ(imp[0].first, "x");
  EXPECT_GT(imp[0].second, 0.9);
  EXPECT_NEAR(imp[0].second + imp[1].second, 1.0, 1e-12);
}

TEST(ParamImportancesTest, ReadsTheChosenObjective) {
  // The second objective is -i: z (i's parity) explains nothing, x's bins (a permutation of i)
  // explain some of it; x stays first and z gets little.
  auto imp = *ParamImportances(XMatters(), {.bins = 8, .objective = 1});
  EXPECT_EQ(imp[0].first, "x");
  EXPECT_LT(imp[1].second, 0.05);
}

TEST(ParamImportancesTest, LeavesOutUnfinishedTrialsAndNamesBadOptions) {
  std::vector<FrozenTrial> trials = XMatters();
  FrozenTrial running = trials[0];
  running.state = TrialState::kRunning;
  trials.push_back(running);
  EXPECT_EQ(*ParamImportances(trials), *ParamImportances(XMatters()));
  EXPECT_EQ(ParamImportances(trials, {.bins = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParamImportances({})->empty());
}

TEST(ParamImportancesTest, AConstantObjectiveGivesZeros) {
  Distribution x = *Distribution::Int(0, 9);
  std::vector<FrozenTrial> trials;
  for (int i = 0; i < 10; ++i) trials.push_back(Complete({{"x", int64_t{i}}}, {{"x", x}}, {1.0}));
  auto imp = *ParamImportances(trials);
  ASSERT_EQ(imp.size(), 1u);
  EXPECT_EQ(imp[0].second, 0.0);
}

}  // namespace
}  // namespace mlcore::hpo

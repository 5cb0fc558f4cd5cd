// The default sampler ("auto") and the GP it runs: start-up trials from the Sobol sequence, and
// a GP that leaves a local minimum when the global one differs in single coordinates.
#include <cmath>
#include <set>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

using testing::Branin;
using testing::RunStudy;

// Styblinski-Tang in 4-D on [-5, 5]^4: each coordinate has a global minimum at -2.9035 (-39.166)
// and a local one at 2.7468 (-25.0), so the 16 basins' best values step by ~14 per wrong
// coordinate; the global minimum is -156.66.
StatusOr<double> StyblinskiTang4(Trial& t) {
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x" + std::to_string(i), -5, 5));
    sum += 0.5 * (x * x * x * x - 16 * x * x + 5 * x);
  }
  return sum;
}

TEST(AutoSamplerTest, StartUpTrialsAreStratified) {
  // Trial 0 teaches the define-by-run space; trials 1..7 are Sobol points 1..7, which with
  // point 0 put one value into each eighth of every range. Random start-up trials would do so
  // on one axis with probability 8!/8^8 = 0.24%.
  for (uint64_t seed : {1, 2, 3}) {
    auto study = RunStudy("auto", seed, Branin, 8);
    TrialList trials = *study->Trials();
    for (const std::string name : {"x", "y"}) {
      const double lo = 0, hi = 15, x_lo = -5, x_hi = 10;
      std::set<int> cells;
      for (int i = 1; i < 8; ++i) {
        const double v = std::get<double>(trials[i]->params.at(name));
        const double u = name == "x" ? (v - x_lo) / (x_hi - x_lo) : (v - lo) / (hi - lo);
        cells.insert(std::min(static_cast<int>(u * 8), 7));
      }
      EXPECT_EQ(cells.size(), 7u) << "seed " << seed << ", parameter " << name;
    }
  }
}

TEST(AutoSamplerTest, SeededRunsAreReproducible) {
  auto a = RunStudy("auto", 5, Branin, 15);
  auto b = RunStudy("auto", 5, Branin, 15);
  EXPECT_EQ(testing::Params(*a), testing::Params(*b));
}

TEST(AutoSamplerTest, GpReachesTheBasinsOfASeparableFunction) {
  // The subspace-move candidates (a trial with one or two coordinates redrawn) and the roulette
  // starts of the acquisition search let the GP flip a coordinate into its other basin. 100
  // random trials reach about -122 (three coordinates in a wrong basin or off centre).
  int global = 0;
  double mean = 0, random_mean = 0;
  for (int s = 0; s < 4; ++s) {
    const double best = RunStudy("auto", s, StyblinskiTang4, 100)->BestTrial()->value;
    const double random = RunStudy("random", s, StyblinskiTang4, 100)->BestTrial()->value;
    EXPECT_LT(best, -120) << "seed " << s << ", random search " << random;
    mean += best / 4;
    random_mean += random / 4;
    global += best < -155;
  }
  EXPECT_LT(mean, random_mean - 10);
  EXPECT_GE(global, 1) << "seeds reaching the global basin (-156.66)";
}

// A categorical picks the model, each model has its own parameters and floor; the best is
// 0.05 at net_lr = 1e-3, net_width = 64, net_dropout = 0.3 (the conditional problem of
// benchmarks/python/_hpo_problems.py).
StatusOr<double> Conditional(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(ParamValue model,
                          t.SuggestCategorical("model", {std::string("linear"), std::string("tree"),
                                                         std::string("net")}));
  const std::string& m = std::get<std::string>(model);
  if (m == "linear") {
    MLCORE_ASSIGN_OR_RETURN(double c, t.SuggestFloat("linear_c", 1e-4, 1e2, /*log=*/true));
    return 0.30 + 0.05 * std::pow(std::log10(c) + 1, 2);
  }
  if (m == "tree") {
    MLCORE_ASSIGN_OR_RETURN(int64_t depth, t.SuggestInt("tree_depth", 1, 20));
    MLCORE_ASSIGN_OR_RETURN(int64_t leaf, t.SuggestInt("tree_min_leaf", 1, 100, /*log=*/true));
    return 0.15 + 0.004 * std::pow(depth - 8.0, 2) + 0.1 * std::pow(std::log10(leaf) - 0.7, 2);
  }
  MLCORE_ASSIGN_OR_RETURN(double lr, t.SuggestFloat("net_lr", 1e-5, 1.0, /*log=*/true));
  MLCORE_ASSIGN_OR_RETURN(int64_t width, t.SuggestInt("net_width", 4, 512, /*log=*/true));
  MLCORE_ASSIGN_OR_RETURN(double drop, t.SuggestFloat("net_dropout", 0.0, 0.6));
  return 0.05 + 0.1 * std::pow(std::log10(lr) + 3, 2) +
         0.03 * std::pow(std::log2(static_cast<double>(width)) - 6, 2) +
         0.5 * std::pow(drop - 0.3, 2);
}

TEST(AutoSamplerTest, ConditionalBranchesGetAGp) {
  // TPE chooses the branch; the branch's own parameters come from a GP over its trials. TPE
  // alone ends at 0.052-0.058 after 100 trials (20 seeds, docs/hpo_samplers.md).
  int close = 0;
  for (int s = 0; s < 4; ++s) {
    auto study = RunStudy("auto", s, Conditional, 100);
    const FrozenTrial best = *study->BestTrial();
    EXPECT_EQ(std::get<std::string>(best.params.at("model")), "net") << "seed " << s;
    EXPECT_LT(best.value, 0.06) << "seed " << s;
    close += best.value < 0.051;
  }
  EXPECT_GE(close, 3) << "seeds within 0.001 of the optimum 0.05";
}

}  // namespace
}  // namespace mlcore::hpo

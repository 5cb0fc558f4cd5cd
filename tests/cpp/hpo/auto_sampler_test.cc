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

}  // namespace
}  // namespace mlcore::hpo

#include <cmath>
#include <set>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "hpo/sobol_sequence.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

using internal::SobolSequence;

// True when points [0, 2^k) put exactly one coordinate into each interval of width 2^-k.
bool Stratifies(const SobolSequence& s, int dim, int k) {
  const uint32_t n = uint32_t{1} << k;
  std::set<uint32_t> cells;
  for (uint32_t i = 0; i < n; ++i) cells.insert(static_cast<uint32_t>(s.Point(i)[dim] * n));
  return cells.size() == n;
}

TEST(SobolSamplerTest, PowerOfTwoPrefixesStratifyEveryDimension) {
  for (bool scramble : {false, true}) {
    SobolSequence s(64, scramble, 17);
    ASSERT_EQ(s.dimensions(), 64);
    for (int dim = 0; dim < 64; ++dim) {
      for (int k : {1, 4, 8, 10}) EXPECT_TRUE(Stratifies(s, dim, k)) << dim << " 2^" << k;
    }
  }
}

TEST(SobolSamplerTest, FirstTwoDimensionsFormAZeroQualityNet) {
  // 2^(2k) points fill each of the 2^k x 2^k cells once (t = 0 for dimensions 1 and 2).
  SobolSequence s(2, true, 3);
  const int k = 4;
  std::set<std::pair<int, int>> cells;
  for (uint32_t i = 0; i < (1u << (2 * k)); ++i) {
    std::vector<double> p = s.Point(i);
    cells.emplace(static_cast<int>(p[0] * (1 << k)), static_cast<int>(p[1] * (1 << k)));
  }
  EXPECT_EQ(cells.size(), 1u << (2 * k));
}

TEST(SobolSamplerTest, KnownUnscrambledPointsAndSeededScrambling) {
  SobolSequence plain(3, false, 0);
  // Points in binary (not Gray-code) order: 0, (1/2, 1/2, 1/2), (1/4, 3/4, 3/4),
  // (3/4, 1/4, 1/4), each at the centre of its 2^-32 cell.
  const double cell = 0.5 / 4294967296.0;
  EXPECT_NEAR(plain.Point(0)[2], cell, 1e-12);
  EXPECT_NEAR(plain.Point(1)[1], 0.5 + cell, 1e-12);
  EXPECT_NEAR(plain.Point(2)[0], 0.25 + cell, 1e-12);
  EXPECT_NEAR(plain.Point(2)[1], 0.75 + cell, 1e-12);
  EXPECT_NEAR(plain.Point(2)[2], 0.75 + cell, 1e-12);
  EXPECT_NEAR(plain.Point(3)[0], 0.75 + cell, 1e-12);
  EXPECT_NEAR(plain.Point(3)[2], 0.25 + cell, 1e-12);
  SobolSequence a(3, true, 1), b(3, true, 1), c(3, true, 2);
  EXPECT_EQ(a.Point(5), b.Point(5));
  EXPECT_NE(a.Point(5), c.Point(5));
}

TEST(SobolSamplerTest, StudyTrialsStratifyTheDeclaredSpace) {
  SearchSpace space;
  ASSERT_TRUE(space.Add("lr", *Distribution::Float(1e-5, 1e-1, /*log=*/true)).ok());
  ASSERT_TRUE(space.Add("units", *Distribution::Int(0, 15)).ok());
  ASSERT_TRUE(
      space.Add("act", *Distribution::Categorical({std::string("relu"), std::string("tanh")}))
          .ok());
  auto study = testing::SeededStudy("sobol", 9, space);
  ASSERT_TRUE(
      study->Optimize([](Trial&) -> StatusOr<double> { return 0.0; }, testing::NTrials(16)).ok());
  std::set<int> lr_cells;
  std::set<int64_t> units;
  int relu = 0;
  TrialList trials = *study->Trials();
  for (const auto& t : trials) {
    double lr = std::get<double>(t->params.at("lr"));
    // log10 range of 4 decades in 16 cells of a quarter decade.
    lr_cells.insert(static_cast<int>(std::floor((std::log10(lr) + 5) * 4)));
    units.insert(std::get<int64_t>(t->params.at("units")));
    relu += std::get<std::string>(t->params.at("act")) == "relu";
  }
  EXPECT_EQ(lr_cells.size(), 16u);
  EXPECT_EQ(units.size(), 16u);  // every integer once
  EXPECT_EQ(relu, 8);
}

TEST(SobolSamplerTest, DefineByRunStudiesAreReproducible) {
  auto run = [](uint64_t seed) {
    auto study = testing::RunStudy(
        "sobol", seed,
        [](Trial& t) -> StatusOr<double> {
          MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -1, 1));
          return x * x;
        },
        10);
    std::vector<double> xs;
    TrialList trials = *study->Trials();
    for (const auto& t : trials) xs.push_back(std::get<double>(t->params.at("x")));
    return xs;
  };
  EXPECT_EQ(run(4), run(4));
  EXPECT_NE(run(4), run(5));
}

}  // namespace
}  // namespace mlcore::hpo

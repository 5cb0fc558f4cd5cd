// One Dropout applied at several graph nodes: each use draws its own mask from its own seeded
// stream (two uses in one step differ), and rebuilding the model with the same seed repeats
// every use's masks step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

Tensor Ones() { return testing::Of(std::vector<float>(2 * 256, 1.0f), {2, 256}); }

// x -> drop -> out0, x -> drop -> out1 and drop(drop(x)) -> out2: three uses of one layer.
std::unique_ptr<GraphModel> TwoUses(uint64_t seed) {
  GraphBuilder g;
  NodeRef x = g.Input({256}, "x");
  std::shared_ptr<Layer> drop = *Dropout(0.5, seed);
  NodeRef a = g.Apply(drop, x);
  NodeRef b = g.Apply(drop, x);
  NodeRef c = g.Apply(drop, g.Apply(Tanh(), a));
  auto model = g.Finish({x}, {a, b, c});
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

// Which elements a use kept, over two training steps.
std::vector<std::vector<bool>> Masks(GraphModel& model) {
  Tensor ones = Ones();
  std::vector<std::vector<bool>> masks;
  for (int step = 0; step < 2; ++step) {
    auto out = model.ForwardAll({ones}, /*training=*/true);
    EXPECT_TRUE(out.ok()) << out.status();
    for (const Tensor& t : *out) {
      std::vector<bool> kept;
      for (int64_t i = 0; i < t.numel(); ++i) kept.push_back(t.data<float>()[i] != 0.0f);
      masks.push_back(std::move(kept));
    }
  }
  return masks;
}

TEST(GraphDropoutTest, EachUseDrawsItsOwnMask) {
  auto model = TwoUses(7);
  auto masks = Masks(*model);
  ASSERT_EQ(masks.size(), 6u);  // 2 steps x 3 uses
  EXPECT_NE(masks[0], masks[1]);
  EXPECT_NE(masks[0], masks[2]);
  EXPECT_NE(masks[1], masks[2]);
  EXPECT_NE(masks[0], masks[3]);  // the next step draws afresh
  // Each use keeps about half of its 512 inputs; the chained third use about a quarter.
  for (size_t i = 0; i < masks.size(); ++i) {
    const double kept = std::count(masks[i].begin(), masks[i].end(), true);
    const double expected = i % 3 == 2 ? 128 : 256;
    EXPECT_NEAR(kept, expected, 0.2 * expected) << "output " << i % 3 << " of step " << i / 3;
  }
}

TEST(GraphDropoutTest, TheSameSeedRepeatsEveryUsesMasks) {
  EXPECT_EQ(Masks(*TwoUses(7)), Masks(*TwoUses(7)));
  EXPECT_NE(Masks(*TwoUses(7)), Masks(*TwoUses(8)));
}

TEST(GraphDropoutTest, TheFirstUseKeepsTheLayersOwnStream) {
  // A graph with one use masks exactly as the first use of a shared layer does.
  GraphBuilder g;
  NodeRef x = g.Input({256}, "x");
  NodeRef a = g.Apply(*Dropout(0.5, 7), x);
  auto single = g.Finish({x}, {a});
  ASSERT_TRUE(single.ok()) << single.status();
  Tensor ones = Ones();
  auto alone = (*single)->ForwardAll({ones}, true);
  auto shared = TwoUses(7)->ForwardAll({ones}, true);
  ASSERT_TRUE(alone.ok() && shared.ok());
  EXPECT_EQ(std::memcmp((*alone)[0].data(), (*shared)[0].data(), (*alone)[0].nbytes()), 0);
}

}  // namespace
}  // namespace mlcore::nn

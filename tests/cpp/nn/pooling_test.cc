// MaxPool2d and AvgPool2d: values on hand-made inputs, gradients against central differences,
// and their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mlcore/nn/layers.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectClose;
using testing::NumericGradient;
using testing::Of;
using testing::Random;

Tensor RunPool(const std::shared_ptr<Layer>& layer, const Tensor& x, bool training = false) {
  Shape sample(x.shape().begin() + 1, x.shape().end());
  EXPECT_TRUE(layer->Build(sample, 0).ok());
  auto y = layer->Forward(x, training);
  EXPECT_TRUE(y.ok()) << y.status();
  return *y;
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST(PoolingTest, MaxPoolPicksWindowMaxima) {
  Tensor x = Of<float>({1, 2, 3, 4,    //
                        5, 6, 7, 8,    //
                        -1, -2, 0, 9,  //
                        4, 3, 2, 1},
                       {1, 1, 4, 4});
  EXPECT_EQ(Values(RunPool(*MaxPool2d(2), x)), (std::vector<float>{6, 8, 4, 9}));
  // Overlapping 3x3 windows with stride 1.
  EXPECT_EQ(Values(RunPool(*MaxPool2d(3, {1, 0}), x)), (std::vector<float>{7, 9, 7, 9}));
  // Padding counts as -infinity: an all-negative corner keeps its own maximum.
  Tensor neg = Of<float>({-5, -6, -7, -8}, {1, 1, 2, 2});
  EXPECT_EQ(Values(RunPool(*MaxPool2d(2, {1, 1}), neg)),
            (std::vector<float>{-5, -5, -6, -5, -5, -6, -7, -7, -8}));
}

TEST(PoolingTest, AvgPoolDividesByTheWindowSize) {
  Tensor x = Of<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  EXPECT_EQ(Values(RunPool(*AvgPool2d(2), x)), (std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f}));
  // count_include_pad: the corner window holds only x[0,0] = 1 and divides by 4.
  Tensor y = RunPool(*AvgPool2d(2, {2, 1}), x);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_FLOAT_EQ(y.data<float>()[0], 0.25f);
}

// Wide rows take the vectorised 2x2 path (8 outputs at a time) plus a scalar tail; both must
// agree with a plain scan, pick the first maximum of ties, and let a NaN win its window.
TEST(PoolingTest, WideRowsMatchAPlainScanIncludingTiesAndNaN) {
  Tensor x = Random({2, 3, 6, 38}, 5);
  float* d = x.data<float>();
  d[1] = d[0];                                          // a tie in the first window
  d[38 + 3] = std::numeric_limits<float>::quiet_NaN();  // a NaN in window (0, 1)
  auto layer = *MaxPool2d(2);
  ASSERT_TRUE(layer->Build({3, 6, 38}, 0).ok());
  Tensor y = *layer->Forward(x, true);
  Tensor g = *Tensor::Zeros(y.shape(), DType::kFloat32);
  for (int64_t i = 0; i < g.numel(); ++i) g.data<float>()[i] = static_cast<float>(i + 1);
  Tensor dx = *layer->Backward(g);
  for (int64_t p = 0; p < 6; ++p) {
    for (int64_t oh = 0; oh < 3; ++oh) {
      for (int64_t ow = 0; ow < 19; ++ow) {
        const float* xp = d + p * 6 * 38;
        int64_t where = 2 * oh * 38 + 2 * ow;
        for (int64_t at : {where + 1, where + 38, where + 39}) {
          if (xp[at] > xp[where] || std::isnan(xp[at])) where = at;
        }
        const int64_t o = (p * 3 + oh) * 19 + ow;
        const float got = y.data<float>()[o];
        if (std::isnan(xp[where])) {
          EXPECT_TRUE(std::isnan(got)) << o;
        } else {
          EXPECT_EQ(got, xp[where]) << o;
        }
        EXPECT_EQ(dx.data<float>()[p * 6 * 38 + where], static_cast<float>(o + 1)) << o;
      }
    }
  }
}

TEST(PoolingTest, ShapesAndChannelsAreIndependent) {
  Tensor x = Random({3, 4, 9, 7}, 1);
  Tensor y = RunPool(*MaxPool2d(2), x);
  ASSERT_EQ(y.shape(), (Shape{3, 4, 4, 3}));
  for (int64_t p = 0; p < 12; ++p) {
    const float* xp = x.data<float>() + p * 63;
    EXPECT_EQ(y.data<float>()[p * 12], std::max({xp[0], xp[1], xp[7], xp[8]})) << p;
  }
}

void CheckGradients(const std::shared_ptr<Layer>& layer, const Shape& input) {
  layer->set_name("pool_t");
  ASSERT_TRUE(layer->Build(Shape(input.begin() + 1, input.end()), 0).ok());
  // Distinct values well apart so a small perturbation never changes which input is the max.
  Tensor x = *Tensor::Empty(input, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float((i * 37) % 101) * 0.1f;
  Tensor y = *layer->Forward(x, true);
  Tensor g = Random(y.shape(), 2);
  auto f = [&]() {
    Tensor out = *layer->Forward(x, false);
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i)
      s += double(out.data<float>()[i]) * g.data<float>()[i];
    return s;
  };
  auto dx = layer->Backward(g);
  ASSERT_TRUE(dx.ok()) << dx.status();
  Tensor analytic = *dx->Clone();
  ExpectClose(NumericGradient(x, f, 1e-3f), analytic, 2e-2, layer->type());
}

TEST(PoolingGradientTest, MaxPool) { CheckGradients(*MaxPool2d(2), {2, 3, 6, 5}); }
TEST(PoolingGradientTest, MaxPoolOverlappingPadded) {
  CheckGradients(*MaxPool2d(3, {2, 1}), {2, 2, 7, 7});
}
TEST(PoolingGradientTest, AvgPool) { CheckGradients(*AvgPool2d(2), {2, 3, 6, 4}); }
TEST(PoolingGradientTest, AvgPoolOverlappingPadded) {
  CheckGradients(*AvgPool2d(3, {1, 1}), {2, 2, 5, 6});
}

TEST(PoolingTest, Errors) {
  EXPECT_FALSE(MaxPool2d(0).ok());
  EXPECT_FALSE(AvgPool2d(2, {1, 2}).ok());  // padding more than half the window
  auto layer = *MaxPool2d(2);
  layer->set_name("pool_a");
  auto built = layer->Build({16}, 0);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.status().message().find("pool_a"), std::string::npos);
  EXPECT_NE(built.status().message().find("[16]"), std::string::npos);
  auto small = (*MaxPool2d(5))->Build({1, 3, 3}, 0);
  EXPECT_FALSE(small.ok());
  auto again = CreateLayer("avg_pool2d", (*AvgPool2d(3, {1, 1}))->config());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->type(), "avg_pool2d");
  EXPECT_EQ(*(*again)->Build({1, 5, 5}, 0), (Shape{1, 5, 5}));
}

}  // namespace
}  // namespace mlcore::nn

// MaxPool2d and AvgPool2d: values on hand-made inputs and against a direct scan for rectangular
// windows with per-axis stride and padding, gradients against central differences, checkpoint
// configs and their errors; GlobalAveragePooling2D / GlobalMaxPooling2D, also in a saved model.
// PyTorch's and Keras' further options are in pooling_options_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "nn/nn_test_util.h"
#include "nn/pooling_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::nn::testing {
namespace {

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

TEST(PoolingGradientTest, MaxPool) { CheckGradients(*MaxPool2d(2), {2, 3, 6, 5}); }
TEST(PoolingGradientTest, MaxPoolOverlappingPadded) {
  CheckGradients(*MaxPool2d(3, {2, 1}), {2, 2, 7, 7});
}
TEST(PoolingGradientTest, AvgPool) { CheckGradients(*AvgPool2d(2), {2, 3, 6, 4}); }
TEST(PoolingGradientTest, AvgPoolOverlappingPadded) {
  CheckGradients(*AvgPool2d(3, {1, 1}), {2, 2, 5, 6});
}

// --- Rectangular windows with per-axis stride and padding. ---

// Direct pooling for reference: max (padding is -infinity) or mean dividing by kh * kw.
Tensor NaivePool(const Tensor& x, bool max, HW k, HW s, HW p) {
  const int64_t planes = x.shape()[0] * x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t oh = (h + 2 * p[0] - k[0]) / s[0] + 1, ow = (w + 2 * p[1] - k[1]) / s[1] + 1;
  Tensor y = *Tensor::Zeros({x.shape()[0], x.shape()[1], oh, ow}, DType::kFloat32);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double acc = max ? -INFINITY : 0.0;
        for (int64_t a = 0; a < k[0]; ++a)
          for (int64_t b = 0; b < k[1]; ++b) {
            const int64_t ih = i * s[0] - p[0] + a, iw = j * s[1] - p[1] + b;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const double v = x.data<float>()[(pl * h + ih) * w + iw];
            acc = max ? std::max(acc, v) : acc + v;
          }
        y.data<float>()[(pl * oh + i) * ow + j] =
            static_cast<float>(max ? acc : acc / double(k[0] * k[1]));
      }
  return y;
}

struct PoolCase {
  HW kernel, stride, padding;
  Shape input;
  Shape expected;  // per-sample output, from (H + 2p - k) / s + 1 per axis
};

class PoolPerAxisTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolPerAxisTest, MaxAndAvgMatchADirectScan) {
  const PoolCase c = GetParam();
  Tensor x = Random(c.input, 3);
  for (bool max : {true, false}) {
    SCOPED_TRACE(max ? "max" : "avg");
    Pool2dOptions o{0, 0, c.stride, c.padding};
    auto layer = max ? *MaxPool2d(c.kernel, o) : *AvgPool2d(c.kernel, o);
    auto out = layer->Build(Shape(c.input.begin() + 1, c.input.end()), 0);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, c.expected);
    Tensor ref = NaivePool(x, max, c.kernel, c.stride, c.padding);
    for (bool training : {false, true}) {
      Tensor y = *layer->Forward(x, training);
      ASSERT_EQ(y.shape(), ref.shape());
      for (int64_t i = 0; i < ref.numel(); ++i) {
        ASSERT_NEAR(y.data<float>()[i], ref.data<float>()[i], 1e-5) << "at " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Axes, PoolPerAxisTest,
                         ::testing::Values(
                             // MaxPool2d((2, 3), stride=(2, 1)): (9-2)/2+1, (8-3)+1.
                             PoolCase{{2, 3}, {2, 1}, {0, 0}, {2, 3, 9, 8}, {3, 4, 6}},
                             // Padding along one axis only: (9+2-2)/2+1, (8-3)/1+1.
                             PoolCase{{2, 3}, {2, 1}, {1, 0}, {2, 3, 9, 8}, {3, 5, 6}},
                             // A tall window moved along the width: (7+2-3)/1+1, (10-1)/2+1.
                             PoolCase{{3, 1}, {1, 2}, {1, 0}, {1, 2, 7, 10}, {2, 7, 5}},
                             // The square 2x2 / stride 2 fast path reached through per-axis values.
                             PoolCase{{2, 2}, {2, 2}, {0, 0}, {2, 2, 6, 20}, {2, 3, 10}}));

TEST(PoolingTest, RectangularStrideDefaultsToTheWindow) {
  auto layer = *MaxPool2d({2, 3});
  EXPECT_EQ(*layer->Build({1, 6, 9}, 0), (Shape{1, 3, 3}));
  EXPECT_EQ(layer->config().at("stride_h"), 2);
  EXPECT_EQ(layer->config().at("stride_w"), 3);
}

TEST(PoolingGradientTest, MaxPoolPerAxis) {
  CheckGradients(*MaxPool2d({2, 3}, {0, 0, HW{2, 1}, HW{1, 1}}), {2, 2, 7, 8});
}
TEST(PoolingGradientTest, AvgPoolPerAxis) {
  CheckGradients(*AvgPool2d({3, 2}, {0, 0, HW{1, 2}, HW{1, 0}}), {2, 2, 6, 7});
}

TEST(PoolingTest, PerAxisConfigRoundTripsAndOldConfigsSpreadTheScalar) {
  auto layer = *AvgPool2d({3, 2}, {0, 0, HW{1, 2}, HW{1, 0}});
  const LayerConfig config = layer->config();
  auto again = CreateLayer("avg_pool2d", config);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config(), config);
  // (6 + 2 - 3) + 1, (7 - 2) / 2 + 1.
  EXPECT_EQ(*(*again)->Build({1, 6, 7}, 0), (Shape{1, 6, 3}));
  // What checkpoints from before rectangular pools hold.
  const LayerConfig old = {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}};
  auto loaded = CreateLayer("max_pool2d", old);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->config().at("kernel_w"), 3);
  EXPECT_EQ((*loaded)->config().at("stride_w"), 2);
  EXPECT_EQ((*loaded)->config().at("padding_w"), 1);
  EXPECT_EQ(*(*loaded)->Build({1, 7, 7}, 0), (Shape{1, 4, 4}));
}

TEST(PoolingTest, BadPerAxisValuesNameTheLayerOptionAndAxis) {
  auto expect = [](StatusOr<std::shared_ptr<Layer>> layer, const std::string& want) {
    ASSERT_FALSE(layer.ok()) << want;
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(layer.status().message());
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
  };
  expect(MaxPool2d({2, 2}, {0, 0, HW{2, 0}, std::nullopt}), "MaxPool2d: stride along width");
  expect(AvgPool2d({2, 2}, {0, 0, HW{-1, 1}, std::nullopt}), "AvgPool2d: stride along height");
  expect(MaxPool2d({2, 2}, {0, 0, std::nullopt, HW{0, -1}}), "MaxPool2d: padding along width");
  // Padding over half the window on one axis only.
  expect(AvgPool2d({4, 2}, {0, 0, std::nullopt, HW{2, 2}}), "AvgPool2d: padding along width");
  expect(MaxPool2d({0, 2}), "MaxPool2d: kernel_size");
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

TEST(GlobalPoolingTest, ReducesEachPlaneToOneValue) {
  Tensor x = Random({3, 4, 5, 6}, 8);
  Tensor avg = RunPool(GlobalAveragePooling2D(), x);
  Tensor mx = RunPool(GlobalMaxPooling2D(), x, true);
  ASSERT_EQ(avg.shape(), (Shape{3, 4}));
  ASSERT_EQ(mx.shape(), (Shape{3, 4}));
  for (int64_t p = 0; p < 12; ++p) {
    const float* xp = x.data<float>() + p * 30;
    double sum = 0;
    float best = xp[0];
    for (int i = 0; i < 30; ++i) {
      sum += xp[i];
      best = std::max(best, xp[i]);
    }
    EXPECT_NEAR(avg.data<float>()[p], sum / 30.0, 1e-6) << p;
    EXPECT_EQ(mx.data<float>()[p], best) << p;
  }
}

TEST(GlobalPoolingTest, Gradients) {
  CheckGradients(GlobalAveragePooling2D(), {2, 3, 4, 5});
  CheckGradients(GlobalMaxPooling2D(), {2, 3, 4, 5});
}

TEST(GlobalPoolingTest, RegistryAndErrors) {
  for (auto layer : {GlobalAveragePooling2D(), GlobalMaxPooling2D()}) {
    auto again = CreateLayer(layer->type(), layer->config());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ((*again)->type(), layer->type());
    layer->set_name("gp");
    auto bad = layer->Build({16}, 0);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("gp"), std::string::npos);
    EXPECT_NE(bad.status().message().find("[16]"), std::string::npos);
  }
  EXPECT_EQ(GlobalAveragePooling2D()->type(), "global_avg_pool2d");
  EXPECT_EQ(GlobalMaxPooling2D()->type(), "global_max_pool2d");
}

// Every new option and both global layers in one Sequential: the checkpoint rebuilds a model
// that predicts identically.
TEST(GlobalPoolingTest, SequentialWithEveryOptionSavesAndLoads) {
  Conv2dOptions same;
  same.padding_mode = PaddingMode::kSame;
  Pool2dOptions ceil;
  ceil.stride = 2;
  ceil.padding = 1;
  ceil.dilation_hw = HW{1, 2};
  ceil.ceil_mode = true;
  Pool2dOptions avg;
  avg.stride = 1;
  avg.count_include_pad = false;
  avg.divisor_override = 3;
  avg.padding_mode = PaddingMode::kSame;
  Sequential model({*Conv2d(4, {4, 3}, same), *MaxPool2d(3, ceil), *AvgPool2d(2, avg),
                    GlobalMaxPooling2D(), *Dense(3)});
  ASSERT_TRUE(model.Build({2, 9, 8}, 4).ok());
  Tensor x = Random({5, 2, 9, 8}, 6);
  auto y = model.Predict(x);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->shape(), (Shape{5, 3}));
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("mlcore_pool_ckpt_" + std::to_string(::getpid())))
          .string();
  ASSERT_TRUE(model.Save(dir).ok());
  auto loaded = LoadModel(dir);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto again = (*loaded)->Predict(x);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Values(*y), Values(*again));
  EXPECT_EQ((*loaded)->layers()[3]->type(), "global_max_pool2d");
}

}  // namespace
}  // namespace mlcore::nn::testing

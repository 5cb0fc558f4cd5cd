// Conv2d against a direct (seven nested loops) convolution, its gradients against central
// differences (square, rectangular, grouped windows and per-axis stride / padding / dilation),
// its shape and option errors, its checkpoint config and the bf16 CPU emulation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "mlcore/nn/layers.h"
#include "nn/bf16.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectBackwardMatchesCentralDifferences;
using testing::Random;

// f = sum(g * layer(x)) with training-mode forwards; checks d f/dx and d f/d parameters.
void CheckGradients(const std::shared_ptr<Layer>& layer, const Shape& input, double tol = 2e-2) {
  layer->set_name(layer->type() + "_t");
  ASSERT_TRUE(layer->Build(Shape(input.begin() + 1, input.end()), 5).ok());
  Tensor x = Random(input, 1);
  auto y = layer->Forward(x, true);
  ASSERT_TRUE(y.ok()) << y.status();
  Tensor g = Random(y->shape(), 2);
  ExpectBackwardMatchesCentralDifferences(*layer, x, g, tol, layer->type() + " input",
                                          /*training_forwards=*/true);
}

// Direct convolution for reference: w [F, C/groups, kh, kw], per-axis stride s, padding p and
// dilation d.
Tensor NaiveConvHW(const Tensor& x, const Tensor& w, const Tensor* b, HW s, HW p, HW d, int64_t oh,
                   int64_t ow, int64_t groups = 1) {
  const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
  const int64_t f = w.shape()[0], cg = w.shape()[1], kh_n = w.shape()[2], kw_n = w.shape()[3];
  const int64_t fg = f / groups;
  EXPECT_EQ(cg * groups, c);
  Tensor y = *Tensor::Zeros({n, f, oh, ow}, DType::kFloat32);
  for (int64_t in = 0; in < n; ++in)
    for (int64_t fo = 0; fo < f; ++fo)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = b ? b->data<float>()[fo] : 0.0;
          for (int64_t cl = 0; cl < cg; ++cl)
            for (int64_t kh = 0; kh < kh_n; ++kh)
              for (int64_t kw = 0; kw < kw_n; ++kw) {
                const int64_t ci = (fo / fg) * cg + cl;
                const int64_t ih = i * s[0] - p[0] + kh * d[0];
                const int64_t iw = j * s[1] - p[1] + kw * d[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += double(x.data<float>()[((in * c + ci) * h + ih) * wd + iw]) *
                       w.data<float>()[((fo * cg + cl) * kh_n + kh) * kw_n + kw];
              }
          y.data<float>()[((in * f + fo) * oh + i) * ow + j] = static_cast<float>(acc);
        }
  return y;
}

Tensor NaiveConv(const Tensor& x, const Tensor& w, const Tensor* b, int64_t s, int64_t p, int64_t d,
                 int64_t oh, int64_t ow, int64_t groups = 1) {
  return NaiveConvHW(x, w, b, {s, s}, {p, p}, {d, d}, oh, ow, groups);
}

struct ConvCase {
  int64_t filters, kernel, stride, padding, dilation;
  bool bias;
  Shape input;
  int64_t kernel_w = 0;  // 0: square
  int64_t groups = 1;
};

class Conv2dForwardTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dForwardTest, MatchesDirectConvolution) {
  const ConvCase c = GetParam();
  Conv2dOptions o{c.stride, c.padding, c.dilation, c.bias, c.groups};
  auto layer = *Conv2d(c.filters, {c.kernel, c.kernel_w > 0 ? c.kernel_w : c.kernel}, o);
  auto out = layer->Build(Shape(c.input.begin() + 1, c.input.end()), 3);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<Parameter*> params = layer->parameters();
  ASSERT_EQ(params.size(), c.bias ? 2u : 1u);
  if (c.bias) params[1]->value = Random(params[1]->value.shape(), 8);
  Tensor x = Random(c.input, 4);
  for (bool training : {false, true}) {
    auto y = layer->Forward(x, training);
    ASSERT_TRUE(y.ok()) << y.status();
    Tensor ref = NaiveConv(x, params[0]->value, c.bias ? &params[1]->value : nullptr, c.stride,
                           c.padding, c.dilation, (*out)[1], (*out)[2], c.groups);
    ASSERT_EQ(y->shape(), ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i) {
      ASSERT_NEAR(y->data<float>()[i], ref.data<float>()[i], 1e-4) << "at " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dForwardTest,
                         ::testing::Values(ConvCase{4, 3, 1, 1, 1, true, {2, 3, 7, 6}},
                                           ConvCase{5, 3, 2, 0, 1, true, {3, 2, 9, 9}},
                                           ConvCase{3, 3, 1, 2, 2, false, {2, 2, 8, 7}},
                                           ConvCase{17, 1, 1, 0, 1, true, {2, 5, 4, 4}},
                                           ConvCase{2, 5, 3, 2, 1, true, {1, 1, 11, 13}},
                                           // Rectangular windows.
                                           ConvCase{4, 3, 1, 1, 1, true, {2, 3, 7, 9}, 5},
                                           ConvCase{3, 1, 2, 0, 2, false, {2, 2, 6, 8}, 3},
                                           // Groups, depthwise, and both with a rectangle.
                                           ConvCase{6, 3, 1, 1, 1, true, {2, 4, 6, 6}, 0, 2},
                                           ConvCase{3, 3, 2, 1, 1, false, {2, 3, 7, 7}, 0, 3},
                                           ConvCase{8, 2, 1, 0, 1, true, {3, 4, 5, 7}, 3, 4}));

TEST(Conv2dGradientTest, PaddedStride1) {
  CheckGradients(*Conv2d(3, 3, {1, 1, 1, true}), {2, 2, 5, 5});
}
TEST(Conv2dGradientTest, StridedDilatedNoBias) {
  CheckGradients(*Conv2d(2, 2, {2, 1, 2, false}), {2, 3, 6, 7});
}
TEST(Conv2dGradientTest, ParallelBatch) {
  // A batch large enough that the work is split over the thread pool.
  CheckGradients(*Conv2d(4, 3, {1, 1, 1, true}), {6, 3, 16, 16}, 3e-2);
}

TEST(Conv2dGradientTest, Rectangular) {
  CheckGradients(*Conv2d(3, {2, 4}, {1, 1, 1, true}), {2, 2, 5, 6});
}
TEST(Conv2dGradientTest, RectangularStridedDilated) {
  CheckGradients(*Conv2d(2, {3, 1}, {2, 0, 2, true}), {2, 3, 9, 5});
}
TEST(Conv2dGradientTest, Grouped) {
  CheckGradients(*Conv2d(4, 3, {1, 1, 1, true, 2}), {2, 4, 5, 5});
}
TEST(Conv2dGradientTest, DepthwiseRectangularParallel) {
  CheckGradients(*Conv2d(6, {3, 2}, {1, 1, 1, true, 3}), {6, 3, 12, 12}, 3e-2);
}

TEST(Conv2dTest, GroupErrorsNameTheCounts) {
  auto bad_filters = Conv2d(5, 3, {1, 0, 1, true, 2});
  ASSERT_FALSE(bad_filters.ok());
  EXPECT_NE(bad_filters.status().message().find("filters=5"), std::string::npos);
  EXPECT_NE(bad_filters.status().message().find("groups=2"), std::string::npos);
  EXPECT_FALSE(Conv2d(4, 3, {1, 0, 1, true, 0}).ok());
  EXPECT_FALSE(Conv2d(4, {3, 0}).ok());
  auto layer = *Conv2d(4, 3, {1, 1, 1, true, 2});
  layer->set_name("conv_g");
  auto built = layer->Build({3, 8, 8}, 0);
  ASSERT_FALSE(built.ok());
  const std::string msg(built.status().message());
  EXPECT_NE(msg.find("conv_g"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3 input channels"), std::string::npos) << msg;
  EXPECT_NE(msg.find("groups=2"), std::string::npos) << msg;
}

TEST(Conv2dTest, ShapeErrorsNameTheLayerAndShapes) {
  auto layer = *Conv2d(4, 3);
  layer->set_name("conv_a");
  auto built = layer->Build({3, 2, 2}, 0);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.status().message().find("conv_a"), std::string::npos) << built.status();
  EXPECT_NE(built.status().message().find("[3, 2, 2]"), std::string::npos) << built.status();
  auto flat = (*Conv2d(4, 3))->Build({10}, 0);
  EXPECT_FALSE(flat.ok());
  auto layer2 = *Conv2d(4, 3);
  layer2->set_name("conv_b");
  ASSERT_TRUE(layer2->Build({1, 8, 8}, 0).ok());
  auto y = layer2->Forward(Random({2, 3, 8, 8}, 1), false);
  ASSERT_FALSE(y.ok());
  const std::string msg(y.status().message());
  EXPECT_NE(msg.find("conv_b"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[-1, 1, 8, 8]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3, 8, 8]"), std::string::npos) << msg;
  EXPECT_FALSE(Conv2d(0, 3).ok());
  EXPECT_FALSE(Conv2d(4, 3, {0, 0, 1, true}).ok());
}

TEST(Conv2dTest, RegistryRebuildsFromConfig) {
  auto layer = *Conv2d(6, 3, {2, 1, 1, false});
  auto again = CreateLayer("conv2d", layer->config());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config(), layer->config());
  auto a = layer->Build({2, 9, 9}, 0), b = (*again)->Build({2, 9, 9}, 0);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, (Shape{6, 5, 5}));
}

TEST(Conv2dTest, RectangularGroupedConfigRoundTrips) {
  auto layer = *Conv2d(6, {3, 5}, {1, 2, 1, true, 3});
  const LayerConfig config = layer->config();
  EXPECT_EQ(config.at("kernel_h"), 3);
  EXPECT_EQ(config.at("kernel_w"), 5);
  EXPECT_EQ(config.at("groups"), 3);
  auto again = CreateLayer("conv2d", config);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config(), config);
  EXPECT_EQ(*(*again)->Build({3, 9, 9}, 0), (Shape{6, 11, 9}));
  EXPECT_EQ((*again)->parameters()[0]->value.shape(), (Shape{6, 1, 3, 5}));
}

TEST(Conv2dTest, OldConfigWithoutTheNewFieldsLoadsSquareAndUngrouped) {
  // What checkpoints written before rectangular kernels and groups hold.
  const LayerConfig old = {{"filters", 4}, {"kernel_size", 3}, {"stride", 1},
                           {"padding", 1}, {"dilation", 1},    {"use_bias", 1}};
  auto layer = CreateLayer("conv2d", old);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->config().at("kernel_w"), 3);
  EXPECT_EQ((*layer)->config().at("groups"), 1);
  ASSERT_TRUE((*layer)->Build({2, 6, 6}, 0).ok());
  EXPECT_EQ((*layer)->parameters()[0]->value.shape(), (Shape{4, 2, 3, 3}));
}

// --- Per-axis stride, padding and dilation. ---

struct AxesCase {
  int64_t filters;
  HW kernel, stride, padding, dilation;
  int64_t groups;
  Shape input;
  Shape expected;  // per-sample output, worked out by hand from the formula
};

Conv2dOptions AxesOptions(const AxesCase& c) {
  Conv2dOptions o;
  o.groups = c.groups;
  o.stride_hw = c.stride;
  o.padding_hw = c.padding;
  o.dilation_hw = c.dilation;
  return o;
}

class Conv2dPerAxisTest : public ::testing::TestWithParam<AxesCase> {};

TEST_P(Conv2dPerAxisTest, MatchesDirectConvolution) {
  const AxesCase c = GetParam();
  auto layer = *Conv2d(c.filters, c.kernel, AxesOptions(c));
  auto out = layer->Build(Shape(c.input.begin() + 1, c.input.end()), 3);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, c.expected);
  std::vector<Parameter*> params = layer->parameters();
  params[1]->value = Random(params[1]->value.shape(), 8);
  Tensor x = Random(c.input, 4);
  for (bool training : {false, true}) {
    auto y = layer->Forward(x, training);
    ASSERT_TRUE(y.ok()) << y.status();
    Tensor ref = NaiveConvHW(x, params[0]->value, &params[1]->value, c.stride, c.padding,
                             c.dilation, (*out)[1], (*out)[2], c.groups);
    ASSERT_EQ(y->shape(), ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i) {
      ASSERT_NEAR(y->data<float>()[i], ref.data<float>()[i], 1e-4) << "at " << i;
    }
  }
}

// OH = (H + 2ph - dh(kh-1) - 1) / sh + 1, OW likewise.
INSTANTIATE_TEST_SUITE_P(
    Axes, Conv2dPerAxisTest,
    ::testing::Values(
        // PyTorch's stride=(2, 1), padding=(1, 0), dilation=(2, 1): (9+2-4-1)/2+1, (7-2-1)+1.
        AxesCase{4, {3, 3}, {2, 1}, {1, 0}, {2, 1}, 1, {2, 3, 9, 7}, {4, 4, 5}},
        // The Conv2d(8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)):
        // (10+2-2-1)/2+1 = 5, (12+4-8-1)+1 = 8.
        AxesCase{8, {3, 5}, {2, 1}, {1, 2}, {1, 2}, 1, {2, 2, 10, 12}, {8, 5, 8}},
        // Stride and padding only along the width, grouped: (8-2)+1, (9+6-3)/3+1.
        AxesCase{6, {2, 3}, {1, 3}, {0, 3}, {1, 1}, 2, {3, 4, 8, 9}, {6, 7, 5}},
        // Dilation only along the height, depthwise: (11-6-1)+1, (6+2-1-1)/2+1.
        AxesCase{3, {4, 2}, {1, 2}, {0, 1}, {2, 1}, 3, {2, 3, 11, 6}, {3, 5, 4}}));

TEST(Conv2dGradientTest, PerAxisStridePaddingDilation) {
  Conv2dOptions o;
  o.stride_hw = HW{2, 1};
  o.padding_hw = HW{1, 2};
  o.dilation_hw = HW{1, 2};
  CheckGradients(*Conv2d(3, {3, 2}, o), {2, 2, 7, 8});
}

TEST(Conv2dTest, PerAxisValuesReplaceTheScalars) {
  Conv2dOptions o;
  o.stride = 3;  // ignored: stride_hw is set
  o.padding = 1;
  o.stride_hw = HW{1, 2};
  const LayerConfig config = (*Conv2d(2, 3, o))->config();
  EXPECT_EQ(config.at("stride_h"), 1);
  EXPECT_EQ(config.at("stride_w"), 2);
  EXPECT_EQ(config.at("padding_h"), 1);  // no padding_hw: the scalar on both axes
  EXPECT_EQ(config.at("padding_w"), 1);
  EXPECT_EQ(config.at("dilation_h"), 1);
  EXPECT_EQ(config.at("dilation_w"), 1);
}

TEST(Conv2dTest, BadPerAxisValuesNameTheOptionAndAxis) {
  struct Bad {
    Conv2dOptions options;
    const char* option;
    const char* axis;
  };
  std::vector<Bad> bad(5);
  bad[0] = {{}, "stride", "width"};
  bad[0].options.stride_hw = HW{2, 0};
  bad[1] = {{}, "stride", "height"};
  bad[1].options.stride_hw = HW{-1, 1};
  bad[2] = {{}, "padding", "width"};
  bad[2].options.padding_hw = HW{0, -1};
  bad[3] = {{}, "dilation", "height"};
  bad[3].options.dilation_hw = HW{0, 1};
  bad[4] = {{}, "dilation", "height"};  // a bad scalar is named per axis too
  bad[4].options.dilation = 0;
  for (const Bad& b : bad) {
    auto layer = Conv2d(4, {3, 3}, b.options);
    ASSERT_FALSE(layer.ok()) << b.option;
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(layer.status().message());
    EXPECT_NE(msg.find("Conv2d"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string(b.option) + " along " + b.axis), std::string::npos) << msg;
  }
}

TEST(Conv2dTest, PerAxisConfigRoundTripsAndOldConfigsSpreadTheScalar) {
  Conv2dOptions o;
  o.stride_hw = HW{2, 1};
  o.padding_hw = HW{1, 2};
  o.dilation_hw = HW{1, 2};
  auto layer = *Conv2d(8, {3, 5}, o);
  const LayerConfig config = layer->config();
  EXPECT_EQ(config.at("stride"), 2);  // the height values, for older readers
  auto again = CreateLayer("conv2d", config);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config(), config);
  EXPECT_EQ(*(*again)->Build({2, 10, 12}, 0), (Shape{8, 5, 8}));
  // A checkpoint from before per-axis values: the scalars apply to both axes.
  const LayerConfig old = {{"filters", 2},  {"kernel_size", 3}, {"kernel_h", 3},
                           {"kernel_w", 3}, {"stride", 2},      {"padding", 1},
                           {"dilation", 2}, {"groups", 1},      {"use_bias", 1}};
  auto loaded = CreateLayer("conv2d", old);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->config().at("stride_w"), 2);
  EXPECT_EQ((*loaded)->config().at("padding_w"), 1);
  EXPECT_EQ((*loaded)->config().at("dilation_w"), 2);
  // (9 + 2 - 5) / 2 + 1 = 4 on both axes.
  EXPECT_EQ(*(*loaded)->Build({1, 9, 9}, 0), (Shape{2, 4, 4}));
}

// The CPU emulation of bf16: forward equals a float32 convolution of bf16-rounded input and
// kernel (so it differs from float32, by about bf16's 2^-8 relative step), and the gradients stay
// within bf16 tolerance of the float32 ones.
TEST(Conv2dBf16Test, CpuEmulationRoundsTheGemmOperands) {
  auto layer = *Conv2d(5, {3, 2}, {1, 1, 1, true, 1});
  layer->set_name("c");
  ASSERT_TRUE(layer->Build({4, 7, 6}, 2).ok());
  Tensor x = Random({3, 4, 7, 6}, 9);
  Tensor w = layer->parameters()[0]->value, b = layer->parameters()[1]->value;
  Tensor y32 = *layer->Forward(x, true);
  Tensor g = Random(y32.shape(), 3);
  Tensor dx32 = *(*layer->Backward(g)).Clone();
  Tensor dw32 = *layer->parameters()[0]->grad.Clone();
  Tensor y16, dx16;
  {
    internal::ScopedComputePrecision bf16(internal::Precision::kBFloat16);
    y16 = *layer->Forward(x, true);
    dx16 = *(*layer->Backward(g)).Clone();
  }
  Tensor xr = *x.Clone(), wr = *w.Clone();
  internal::RoundToBf16(xr.data<float>(), xr.data<float>(), xr.numel());
  internal::RoundToBf16(wr.data<float>(), wr.data<float>(), wr.numel());
  Tensor ref = NaiveConv(xr, wr, &b, 1, 1, 1, y16.shape()[2], y16.shape()[3]);
  double max_diff32 = 0.0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    ASSERT_NEAR(y16.data<float>()[i], ref.data<float>()[i], 1e-4) << "at " << i;
    max_diff32 =
        std::max(max_diff32, double(std::abs(y16.data<float>()[i] - y32.data<float>()[i])));
  }
  EXPECT_GT(max_diff32, 1e-4) << "bf16 rounding had no effect";
  auto close = [](const Tensor& a, const Tensor& b, const char* what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double u = a.data<float>()[i], v = b.data<float>()[i];
      ASSERT_NEAR(u, v, 3e-2 * (1.0 + std::abs(u))) << what << " at " << i;
    }
  };
  close(dx32, dx16, "bf16 input gradient");
  close(dw32, layer->parameters()[0]->grad, "bf16 kernel gradient");
}

// --- padding="same" / "valid". ---

struct SameCase {
  HW kernel, stride, dilation;
  Shape input;
  HW before;  // expected top / left padding, worked out by hand from Keras' rule
  Shape expected;
};

class Conv2dSameTest : public ::testing::TestWithParam<SameCase> {};

TEST_P(Conv2dSameTest, MatchesADirectConvolutionWithTheAsymmetricPadding) {
  const SameCase c = GetParam();
  Conv2dOptions o;
  o.stride_hw = c.stride;
  o.dilation_hw = c.dilation;
  o.padding = 5;  // ignored by "same"
  o.padding_mode = PaddingMode::kSame;
  auto layer = *Conv2d(3, c.kernel, o);
  auto out = layer->Build(Shape(c.input.begin() + 1, c.input.end()), 3);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(*out, c.expected);
  layer->parameters()[1]->value = Random({3}, 8);
  Tensor x = Random(c.input, 4);
  // The reference pads `before` on top / left; the output size implies the rest (zeros) after.
  Tensor ref = NaiveConvHW(x, layer->parameters()[0]->value, &layer->parameters()[1]->value,
                           c.stride, c.before, c.dilation, c.expected[1], c.expected[2]);
  for (bool training : {false, true}) {
    Tensor y = *layer->Forward(x, training);
    ASSERT_EQ(y.shape(), ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i) {
      ASSERT_NEAR(y.data<float>()[i], ref.data<float>()[i], 1e-4) << "at " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Padding, Conv2dSameTest,
    ::testing::Values(
        // Stride 1 (PyTorch's "same"): odd kernel, symmetric; even kernel, one more after.
        SameCase{{3, 3}, {1, 1}, {1, 1}, {2, 2, 6, 5}, {1, 1}, {3, 6, 5}},
        SameCase{{4, 2}, {1, 1}, {1, 1}, {2, 2, 6, 5}, {1, 0}, {3, 6, 5}},
        // Dilation 2 on a 2-wide kernel is an effective 3: symmetric again; 4 with dilation 1.
        SameCase{{2, 4}, {1, 1}, {2, 1}, {1, 3, 7, 8}, {1, 1}, {3, 7, 8}},
        // Keras' rule with stride 2: 7 rows -> 4, total (4-1)*2+3-7 = 2 -> 1 before; 8 columns
        // -> 4, total 1 -> 0 before, 1 after.
        SameCase{{3, 3}, {2, 2}, {1, 1}, {2, 2, 7, 8}, {1, 0}, {3, 4, 4}},
        // A kernel smaller than the stride needs no padding: ceil(9 / 3) = 3.
        SameCase{{1, 2}, {3, 3}, {1, 1}, {1, 2, 9, 9}, {0, 0}, {3, 3, 3}}));

TEST(Conv2dTest, ValidIgnoresThePaddingNumbers) {
  Conv2dOptions o;
  o.padding = 2;
  o.padding_mode = PaddingMode::kValid;
  auto layer = *Conv2d(2, 3, o);
  EXPECT_EQ(*layer->Build({1, 6, 7}, 0), (Shape{2, 4, 5}));
  EXPECT_EQ(layer->config().at("padding_h"), 0);
}

TEST(Conv2dGradientTest, SamePaddingEvenKernelAndStride2) {
  Conv2dOptions o;
  o.padding_mode = PaddingMode::kSame;
  CheckGradients(*Conv2d(3, {4, 2}, o), {2, 2, 5, 6});
  o.stride_hw = HW{2, 2};
  CheckGradients(*Conv2d(2, 3, o), {2, 2, 6, 7});
}

TEST(Conv2dTest, PaddingModeRoundTripsAndOldConfigsAreExplicit) {
  Conv2dOptions o;
  o.padding_mode = PaddingMode::kSame;
  auto layer = *Conv2d(4, {2, 3}, o);
  const LayerConfig config = layer->config();
  EXPECT_EQ(config.at("padding_mode"), 2);
  auto again = CreateLayer("conv2d", config);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->config(), config);
  EXPECT_EQ(*(*again)->Build({2, 5, 7}, 0), (Shape{4, 5, 7}));
  // A config without padding_mode (older checkpoints) uses the padding numbers.
  LayerConfig old = config;
  old.erase("padding_mode");
  old["padding_h"] = old["padding_w"] = 0;
  auto loaded = CreateLayer("conv2d", old);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*(*loaded)->Build({2, 5, 7}, 0), (Shape{4, 4, 5}));
}

TEST(Conv2dTest, BadPaddingModesNameTheLayer) {
  Conv2dOptions o;
  o.padding_mode = static_cast<PaddingMode>(-1);
  auto layer = Conv2d(2, 3, o);
  ASSERT_FALSE(layer.ok());
  EXPECT_EQ(std::string(layer.status().message()), "Conv2d: unknown padding mode -1");
  auto parsed = ParsePaddingMode("Conv2d", "causal");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(parsed.status().message()).find("Conv2d: padding must be"),
            std::string::npos);
  EXPECT_NE(std::string(parsed.status().message()).find("\"causal\""), std::string::npos);
  EXPECT_EQ(*ParsePaddingMode("Conv2d", "Valid"), PaddingMode::kValid);
  EXPECT_STREQ(PaddingModeName(PaddingMode::kSame), "same");
}

}  // namespace
}  // namespace mlcore::nn

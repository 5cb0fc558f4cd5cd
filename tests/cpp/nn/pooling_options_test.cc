// MaxPool2d and AvgPool2d with PyTorch's dilation / ceil_mode / count_include_pad /
// divisor_override and Keras' "same" / "valid" padding: against a direct scan written out
// independently, gradients, config round trips and errors naming the layer and value.
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

// --- PyTorch's dilation, ceil_mode, count_include_pad, divisor_override; "same" / "valid". ---

struct PoolSpec {
  bool max = true;
  HW kernel{2, 2}, stride{2, 2}, dilation{1, 1};
  HW before{0, 0}, after{0, 0};  // padding per side
  bool ceil_mode = false, count_include_pad = true;
  int64_t divisor_override = 0;
};

// Output size along one axis, PyTorch's pooling_output_shape written out independently.
int64_t NaiveOut(int64_t in, int64_t k, int64_t s, int64_t d, int64_t lo, int64_t hi, bool ceil) {
  const int64_t span = d * (k - 1) + 1;
  const double exact = double(in + lo + hi - span) / double(s);
  int64_t n = static_cast<int64_t>(ceil ? std::ceil(exact) : std::floor(exact)) + 1;
  if (ceil && (n - 1) * s >= in + lo) --n;
  return n;
}

// Every option by a direct scan over the window's taps; divisors counted tap by tap.
Tensor NaivePoolFull(const Tensor& x, const PoolSpec& p) {
  const int64_t planes = x.shape()[0] * x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t oh =
      NaiveOut(h, p.kernel[0], p.stride[0], p.dilation[0], p.before[0], p.after[0], p.ceil_mode);
  const int64_t ow =
      NaiveOut(w, p.kernel[1], p.stride[1], p.dilation[1], p.before[1], p.after[1], p.ceil_mode);
  Tensor y = *Tensor::Zeros({x.shape()[0], x.shape()[1], oh, ow}, DType::kFloat32);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double acc = p.max ? -INFINITY : 0.0;
        int64_t in_image = 0, in_padded = 0;
        for (int64_t a = 0; a < p.kernel[0]; ++a)
          for (int64_t b = 0; b < p.kernel[1]; ++b) {
            const int64_t ih = i * p.stride[0] - p.before[0] + a * p.dilation[0];
            const int64_t iw = j * p.stride[1] - p.before[1] + b * p.dilation[1];
            if (ih < h + p.after[0] && iw < w + p.after[1]) ++in_padded;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            ++in_image;
            const double v = x.data<float>()[(pl * h + ih) * w + iw];
            acc = p.max ? std::max(acc, v) : acc + v;
          }
        const int64_t divisor = p.divisor_override > 0
                                    ? p.divisor_override
                                    : (p.count_include_pad ? in_padded : in_image);
        y.data<float>()[(pl * oh + i) * ow + j] =
            static_cast<float>(p.max ? acc : acc / double(divisor));
      }
  return y;
}

std::shared_ptr<Layer> MakeFromSpec(const PoolSpec& p) {
  Pool2dOptions o;
  o.stride_hw = p.stride;
  o.padding_hw = p.before;
  o.dilation_hw = p.dilation;
  o.ceil_mode = p.ceil_mode;
  o.count_include_pad = p.count_include_pad;
  o.divisor_override = p.divisor_override;
  auto layer = p.max ? MaxPool2d(p.kernel, o) : AvgPool2d(p.kernel, o);
  EXPECT_TRUE(layer.ok()) << layer.status();
  return *layer;
}

void ExpectMatchesNaive(const std::shared_ptr<Layer>& layer, const PoolSpec& spec,
                        const Shape& input) {
  Tensor x = Random(input, 11);
  Tensor ref = NaivePoolFull(x, spec);
  for (bool training : {false, true}) {
    Tensor y = RunPool(layer, x, training);
    ASSERT_EQ(y.shape(), ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i) {
      ASSERT_NEAR(y.data<float>()[i], ref.data<float>()[i], 1e-5) << "at " << i;
    }
  }
}

TEST(PoolingOptionsTest, CeilModeKeepsALastWindowStartingInsideTheInput) {
  // 6 wide, 3x3 / stride 2: floor gives 2 windows, ceil_mode 3 (the last one clipped).
  Pool2dOptions o;
  o.stride = 2;
  o.ceil_mode = true;
  EXPECT_EQ(*(*MaxPool2d(3, o))->Build({1, 6, 6}, 0), (Shape{1, 3, 3}));
  o.ceil_mode = false;
  EXPECT_EQ(*(*MaxPool2d(3, o))->Build({1, 6, 6}, 0), (Shape{1, 2, 2}));
  // 5 wide, 2x2 / stride 2 / padding 1: ceil would start a 4th window at 6 = 5 + 1, inside the
  // right padding, so PyTorch drops it: 3, as without ceil_mode.
  o.ceil_mode = true;
  o.padding = 1;
  EXPECT_EQ(*(*MaxPool2d(2, o))->Build({1, 5, 5}, 0), (Shape{1, 3, 3}));
}

TEST(PoolingOptionsTest, AvgDivisorsFollowPyTorch) {
  // x = 0..35 on a 6x6 plane; 3x3 / stride 2 / padding 1 / ceil_mode: 4x4 outputs.
  std::vector<float> v(36);
  for (int i = 0; i < 36; ++i) v[i] = float(i);
  Tensor x = Of<float>(v, {1, 1, 6, 6});
  Pool2dOptions o;
  o.stride = 2;
  o.padding = 1;
  o.ceil_mode = true;
  Tensor in = RunPool(*AvgPool2d(3, o), x);
  ASSERT_EQ(in.shape(), (Shape{1, 1, 4, 4}));
  // Corner: x[0,0] + x[0,1] + x[1,0] + x[1,1] = 14 over the 3x3 window with its padding.
  EXPECT_FLOAT_EQ(in.data<float>()[0], 14.0f / 9.0f);
  // Last window starts at row/col 5: it covers rows 5..7 but the padded input ends at 7 (6 + 1),
  // so it counts 2x2 cells of which only x[5,5] = 35 is real.
  EXPECT_FLOAT_EQ(in.data<float>()[15], 35.0f / 4.0f);
  o.count_include_pad = false;
  Tensor ex = RunPool(*AvgPool2d(3, o), x);
  EXPECT_FLOAT_EQ(ex.data<float>()[0], 14.0f / 4.0f);
  EXPECT_FLOAT_EQ(ex.data<float>()[15], 35.0f);
  o.divisor_override = 5;
  Tensor ov = RunPool(*AvgPool2d(3, o), x);
  EXPECT_FLOAT_EQ(ov.data<float>()[0], 14.0f / 5.0f);
  EXPECT_FLOAT_EQ(ov.data<float>()[15], 35.0f / 5.0f);
}

TEST(PoolingOptionsTest, DilatedMaxPoolTakesSpacedTaps) {
  std::vector<float> v(25);
  for (int i = 0; i < 25; ++i) v[i] = float((i * 7) % 25);
  Tensor x = Of<float>(v, {1, 1, 5, 5});
  Pool2dOptions o;
  o.stride = 1;
  o.dilation = 2;
  Tensor y = RunPool(*MaxPool2d(2, o), x);
  // Effective window 3: (5 - 3) + 1 = 3 per axis; output (0, 0) reads x[0,0], x[0,2], x[2,0],
  // x[2,2] = 0, 14, 20, 9.
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(y.data<float>()[0], 20.0f);
}

class PoolOptionsTest : public ::testing::TestWithParam<std::pair<PoolSpec, Shape>> {};

TEST_P(PoolOptionsTest, MatchesADirectScan) {
  const auto& [spec, input] = GetParam();
  ExpectMatchesNaive(MakeFromSpec(spec), spec, input);
}

PoolSpec Spec(bool max, HW k, HW s, HW pad, HW d, bool ceil, bool include = true, int64_t div = 0) {
  PoolSpec p;
  p.max = max;
  p.kernel = k;
  p.stride = s;
  p.before = p.after = pad;
  p.dilation = d;
  p.ceil_mode = ceil;
  p.count_include_pad = include;
  p.divisor_override = div;
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    Options, PoolOptionsTest,
    ::testing::Values(
        std::make_pair(Spec(true, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true), Shape{2, 3, 8, 9}),
        std::make_pair(Spec(true, {2, 3}, {2, 1}, {1, 1}, {2, 1}, true), Shape{2, 2, 9, 7}),
        std::make_pair(Spec(true, {3, 2}, {1, 2}, {2, 1}, {2, 3}, false), Shape{1, 2, 9, 10}),
        // 2x2 / stride 2 on odd sizes with ceil_mode: not the exact-tiling fast path.
        std::make_pair(Spec(true, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true), Shape{2, 2, 7, 21}),
        std::make_pair(Spec(false, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true), Shape{2, 3, 8, 9}),
        std::make_pair(Spec(false, {3, 2}, {2, 3}, {1, 1}, {1, 1}, true, false),
                       Shape{2, 2, 8, 10}),
        std::make_pair(Spec(false, {2, 3}, {1, 2}, {1, 1}, {1, 1}, false, false),
                       Shape{1, 2, 6, 7}),
        std::make_pair(Spec(false, {3, 3}, {2, 2}, {1, 0}, {1, 1}, true, true, 7),
                       Shape{2, 2, 7, 8}),
        // ceil_mode lets a window overhang a padded input smaller than itself (one row of 1 + 2
        // padding under a 4-row window), as PyTorch does; the divisor stops at the padding.
        std::make_pair(Spec(false, {4, 1}, {2, 3}, {1, 0}, {1, 1}, true), Shape{1, 2, 1, 8}),
        std::make_pair(Spec(true, {4, 2}, {2, 2}, {1, 1}, {1, 1}, true), Shape{1, 2, 1, 3})));

TEST(PoolingOptionsTest, SameAndValidPadding) {
  // Keras' "same": ceil(in / stride) outputs, total padding split with the extra after.
  Pool2dOptions o;
  o.padding_mode = PaddingMode::kSame;
  // 2x2 / stride 2 on 7x5: (4, 3); pads rows 0 + 1, cols 0 + 1.
  auto layer = *MaxPool2d(2, o);
  EXPECT_EQ(*layer->Build({1, 7, 5}, 0), (Shape{1, 4, 3}));
  PoolSpec spec = Spec(true, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false);
  spec.after = {1, 1};
  ExpectMatchesNaive(layer, spec, {2, 1, 7, 5});
  // 4x3 / stride 1 average, Keras' convention (count_include_pad false): rows 1 + 2, cols 1 + 1.
  o.stride = 1;
  o.count_include_pad = false;
  auto avg = *AvgPool2d({4, 3}, o);
  EXPECT_EQ(*avg->Build({2, 6, 5}, 0), (Shape{2, 6, 5}));
  spec = Spec(false, {4, 3}, {1, 1}, {1, 1}, {1, 1}, false, false);
  spec.after = {2, 1};
  ExpectMatchesNaive(avg, spec, {2, 2, 6, 5});
  // "valid" ignores the padding numbers.
  Pool2dOptions valid;
  valid.padding = 1;
  valid.padding_mode = PaddingMode::kValid;
  EXPECT_EQ(*(*MaxPool2d(2, valid))->Build({1, 5, 5}, 0), (Shape{1, 2, 2}));
}

TEST(PoolingGradientTest, NewOptions) {
  Pool2dOptions o;
  o.stride = 2;
  o.padding = 1;
  o.ceil_mode = true;
  o.dilation_hw = HW{2, 1};
  CheckGradients(*MaxPool2d(3, o), {2, 2, 8, 7});
  o.dilation_hw.reset();
  CheckGradients(*AvgPool2d(3, o), {2, 2, 8, 7});
  o.count_include_pad = false;
  CheckGradients(*AvgPool2d(3, o), {2, 2, 8, 7});
  o.divisor_override = 4;
  CheckGradients(*AvgPool2d(3, o), {2, 2, 8, 7});
  Pool2dOptions same;
  same.stride = 1;
  same.padding_mode = PaddingMode::kSame;
  CheckGradients(*MaxPool2d(2, same), {2, 2, 5, 4});
  CheckGradients(*AvgPool2d({2, 3}, same), {2, 2, 5, 4});
}

TEST(PoolingOptionsTest, EveryOptionRoundTripsThroughTheConfig) {
  Pool2dOptions o;
  o.stride_hw = HW{2, 1};
  o.padding_hw = HW{1, 0};
  o.dilation_hw = HW{2, 1};
  o.ceil_mode = true;
  Pool2dOptions a;
  a.stride = 2;
  a.ceil_mode = true;
  a.count_include_pad = false;
  a.divisor_override = 3;
  a.padding_mode = PaddingMode::kSame;
  for (auto layer : {*MaxPool2d({3, 2}, o), *AvgPool2d(3, a)}) {
    const LayerConfig config = layer->config();
    auto again = CreateLayer(layer->type(), config);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ((*again)->config(), config);
    EXPECT_EQ(*(*again)->Build({2, 9, 8}, 0), *layer->Build({2, 9, 8}, 0));
    Tensor x = Random({2, 2, 9, 8}, 4);
    Tensor y0 = RunPool(layer, x), y1 = RunPool(*again, x);
    EXPECT_EQ(Values(y0), Values(y1));
  }
  // Old configs (no new keys) keep the old behaviour: padded zeros in the divisor.
  auto old = *CreateLayer("avg_pool2d", {{"kernel_size", 2}, {"stride", 1}, {"padding", 1}});
  EXPECT_EQ(old->config().at("count_include_pad"), 1);
  EXPECT_EQ(old->config().at("ceil_mode"), 0);
  EXPECT_EQ(old->config().at("padding_mode"), 0);
  Tensor x = Of<float>({4}, {1, 1, 1, 1});
  EXPECT_EQ(Values(RunPool(old, x)), (std::vector<float>{1, 1, 1, 1}));
}

TEST(PoolingOptionsTest, BadOptionsNameTheLayerAndValues) {
  auto expect = [](StatusOr<std::shared_ptr<Layer>> layer, const std::string& want) {
    ASSERT_FALSE(layer.ok()) << want;
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(layer.status().message());
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
  };
  Pool2dOptions o;
  o.dilation = 2;
  expect(AvgPool2d(2, o), "AvgPool2d: dilation must be 1");
  o.dilation = 0;
  expect(MaxPool2d(2, o), "MaxPool2d: dilation along height must be >= 1, got 0");
  Pool2dOptions d;
  d.divisor_override = -2;
  expect(AvgPool2d(2, d), "AvgPool2d: divisor_override must be positive (0: none), got -2");
  d.divisor_override = 2;
  expect(MaxPool2d(2, d), "MaxPool2d: divisor_override and count_include_pad");
  // Padding 2 fits a dilated 2-tap window (effective 3)? No: at most 1.
  Pool2dOptions p;
  p.padding = 2;
  p.dilation_hw = HW{2, 1};
  expect(MaxPool2d(2, p), "MaxPool2d: padding along height (2) must be at most half");
  p.dilation_hw = HW{3, 3};  // effective 4: padding 2 is fine
  EXPECT_TRUE(MaxPool2d(2, p).ok());
  Pool2dOptions bad_mode;
  bad_mode.padding_mode = static_cast<PaddingMode>(7);
  expect(MaxPool2d(2, bad_mode), "MaxPool2d: unknown padding mode 7");
  auto parsed = ParsePaddingMode("AvgPool2d", "full");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(std::string(parsed.status().message()).find("AvgPool2d: padding must be"),
            std::string::npos);
  EXPECT_EQ(*ParsePaddingMode("AvgPool2d", "SAME"), PaddingMode::kSame);
  // A window that does not fit names the layer, the dilation and the padding.
  auto layer = *MaxPool2d(4, p);  // effective 10 > 3 + 2 + 2
  layer->set_name("pool_d");
  auto built = layer->Build({1, 3, 3}, 0);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.status().message().find("pool_d"), std::string::npos) << built.status();
  EXPECT_NE(built.status().message().find("dilation (3, 3)"), std::string::npos);
}

// --- GlobalAveragePooling2D / GlobalMaxPooling2D. ---

}  // namespace
}  // namespace mlcore::nn::testing

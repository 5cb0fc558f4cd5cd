// Conv2d against a direct (seven nested loops) convolution, its gradients against central
// differences, and its shape errors.
#include <gtest/gtest.h>

#include "mlcore/nn/layers.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectClose;
using testing::NumericGradient;
using testing::Random;

// f = sum(g * layer(x)) with training-mode forwards; checks d f/dx and d f/d parameters.
void CheckGradients(const std::shared_ptr<Layer>& layer, const Shape& input, double tol = 2e-2) {
  layer->set_name(layer->type() + "_t");
  ASSERT_TRUE(layer->Build(Shape(input.begin() + 1, input.end()), 5).ok());
  Tensor x = Random(input, 1);
  auto y = layer->Forward(x, true);
  ASSERT_TRUE(y.ok()) << y.status();
  Tensor g = Random(y->shape(), 2);
  auto f = [&]() {
    auto out = layer->Forward(x, true);
    EXPECT_TRUE(out.ok()) << out.status();
    double s = 0;
    for (int64_t i = 0; i < out->numel(); ++i)
      s += double(out->data<float>()[i]) * g.data<float>()[i];
    return s;
  };
  ASSERT_TRUE(layer->Forward(x, true).ok());
  auto dx = layer->Backward(g);
  ASSERT_TRUE(dx.ok()) << dx.status();
  Tensor dx_copy = *dx->Clone();
  std::vector<Tensor> grads;
  for (Parameter* p : layer->parameters()) grads.push_back(*p->grad.Clone());
  ExpectClose(NumericGradient(x, f), dx_copy, tol, layer->type() + " input");
  size_t i = 0;
  for (Parameter* p : layer->parameters())
    ExpectClose(NumericGradient(p->value, f), grads[i++], tol, p->name);
}

// Direct convolution for reference.
Tensor NaiveConv(const Tensor& x, const Tensor& w, const Tensor* b, int64_t s, int64_t p, int64_t d,
                 int64_t oh, int64_t ow) {
  const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
  const int64_t f = w.shape()[0], k = w.shape()[2];
  Tensor y = *Tensor::Zeros({n, f, oh, ow}, DType::kFloat32);
  for (int64_t in = 0; in < n; ++in)
    for (int64_t fo = 0; fo < f; ++fo)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = b ? b->data<float>()[fo] : 0.0;
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t kh = 0; kh < k; ++kh)
              for (int64_t kw = 0; kw < k; ++kw) {
                const int64_t ih = i * s - p + kh * d, iw = j * s - p + kw * d;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += double(x.data<float>()[((in * c + ci) * h + ih) * wd + iw]) *
                       w.data<float>()[((fo * c + ci) * k + kh) * k + kw];
              }
          y.data<float>()[((in * f + fo) * oh + i) * ow + j] = static_cast<float>(acc);
        }
  return y;
}

struct ConvCase {
  int64_t filters, kernel, stride, padding, dilation;
  bool bias;
  Shape input;
};

class Conv2dForwardTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dForwardTest, MatchesDirectConvolution) {
  const ConvCase c = GetParam();
  Conv2dOptions o{c.stride, c.padding, c.dilation, c.bias};
  auto layer = *Conv2d(c.filters, c.kernel, o);
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
                           c.padding, c.dilation, (*out)[1], (*out)[2]);
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
                                           ConvCase{2, 5, 3, 2, 1, true, {1, 1, 11, 13}}));

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

}  // namespace
}  // namespace mlcore::nn

// Every layer's and every loss's backward pass against central differences.
#include <gtest/gtest.h>

#include <cmath>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/loss.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectBackwardMatchesCentralDifferences;
using testing::ExpectClose;
using testing::NumericGradient;
using testing::Random;

// f(x, params) = sum(g * layer(x)) for a fixed random g; checks d f/dx and d f/d params.
void CheckLayer(std::shared_ptr<Layer> layer, Shape input, float lo = -1.0f, float hi = 1.0f,
                double tol = 2e-2) {
  layer->set_name(layer->type() + "_t");
  Shape sample(input.begin() + 1, input.end());
  ASSERT_TRUE(layer->Build(sample, 7).ok());
  Tensor x = Random(input, 1, lo, hi);
  auto y = layer->Forward(x, true);
  ASSERT_TRUE(y.ok()) << y.status();
  Tensor g = Random(y->shape(), 2);
  ExpectBackwardMatchesCentralDifferences(*layer, x, g, tol, layer->type() + " input");
}

TEST(LayerGradientTest, Dense) { CheckLayer(*Dense(5), {4, 3}); }
TEST(LayerGradientTest, DenseWithoutBias) {
  DenseOptions o;
  o.use_bias = false;
  CheckLayer(*Dense(3, o), {2, 6});
}
// Inputs kept away from the kink at 0, where the derivative is undefined.
TEST(LayerGradientTest, ReLU) { CheckLayer(ReLU(), {3, 4}, 0.1f, 1.0f); }
TEST(LayerGradientTest, ReLUNegativeSide) { CheckLayer(ReLU(), {3, 4}, -1.0f, -0.1f); }
TEST(LayerGradientTest, ReLUPassesOrBlocksEachGradientExactly) {
  // Long enough for the vectorised loop and its scalar tail; a blocked gradient is +0 even when
  // the incoming one is infinite or NaN (as PyTorch's threshold_backward).
  auto relu = ReLU();
  ASSERT_TRUE(relu->Build({11}, 0).ok());
  Tensor x = Random({3, 11}, 4);
  x.data<float>()[0] = 0.0f;  // the kink counts as blocked
  ASSERT_TRUE(relu->Forward(x, true).ok());
  Tensor g = Random({3, 11}, 5);
  g.data<float>()[1] = INFINITY;
  g.data<float>()[2] = NAN;
  auto dx = relu->Backward(g);
  ASSERT_TRUE(dx.ok()) << dx.status();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float got = dx->data<float>()[i];
    if (x.data<float>()[i] > 0.0f) {
      EXPECT_TRUE(got == g.data<float>()[i] || (std::isnan(got) && std::isnan(g.data<float>()[i])))
          << i;
    } else {
      EXPECT_EQ(got, 0.0f) << i;
      EXPECT_FALSE(std::signbit(got)) << i;
    }
  }
}
TEST(LayerGradientTest, GELU) { CheckLayer(GELU(), {3, 5}, -3.0f, 3.0f); }
TEST(LayerGradientTest, Tanh) { CheckLayer(Tanh(), {3, 5}, -2.0f, 2.0f); }
TEST(LayerGradientTest, Sigmoid) { CheckLayer(Sigmoid(), {3, 5}, -4.0f, 4.0f); }
TEST(LayerGradientTest, Softmax) { CheckLayer(Softmax(), {3, 6}, -2.0f, 2.0f); }
TEST(LayerGradientTest, LayerNorm) {
  // Gamma and beta start at 1 and 0; randomise them so their gradients are not trivial.
  auto layer = *LayerNorm();
  ASSERT_TRUE(layer->Build({2, 6}, 0).ok());
  for (Parameter* p : layer->parameters()) p->value = Random(p->value.shape(), 9, 0.5f, 1.5f);
  CheckLayer(layer, {3, 2, 6}, -2.0f, 2.0f);
}
TEST(LayerGradientTest, Flatten) { CheckLayer(Flatten(), {2, 3, 4}); }
// With rate 0 the training pass is the identity, so central differences apply.
TEST(LayerGradientTest, DropoutRateZero) { CheckLayer(*Dropout(0.0, 3), {3, 4}); }

TEST(LayerGradientTest, DropoutBackwardUsesTheForwardMask) {
  auto layer = *Dropout(0.5, 11);
  ASSERT_TRUE(layer->Build({1000}, 0).ok());
  Tensor x = Random({1, 1000}, 3, 0.5f, 1.0f);
  Tensor y = *layer->Forward(x, true);
  Tensor g = Random({1, 1000}, 4);
  Tensor dx = *layer->Backward(g);
  int zeros = 0;
  for (int i = 0; i < 1000; ++i) {
    const float ratio = y.data<float>()[i] / x.data<float>()[i];  // 0 or 2
    EXPECT_TRUE(ratio == 0.0f || std::abs(ratio - 2.0f) < 1e-5f);
    EXPECT_NEAR(dx.data<float>()[i], g.data<float>()[i] * ratio, 1e-5);
    zeros += ratio == 0.0f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
}

TEST(LayerGradientTest, DropoutMasksRepeatForTheSameSeed) {
  auto a = *Dropout(0.3, 5);
  auto b = *Dropout(0.3, 5);
  ASSERT_TRUE(a->Build({64}, 0).ok());
  ASSERT_TRUE(b->Build({64}, 0).ok());
  Tensor x = Random({2, 64}, 1);
  Tensor ya = *a->Forward(x, true), yb = *b->Forward(x, true);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(ya.data<float>()[i], yb.data<float>()[i]);
}

void CheckLoss(const std::string& name, Tensor output, const Tensor& target) {
  auto loss = MakeLoss(name);
  ASSERT_TRUE(loss.ok());
  Tensor grad;
  ASSERT_TRUE((*loss)->Compute(output, target, &grad).ok());
  auto f = [&]() { return *(*loss)->Compute(output, target, nullptr); };
  ExpectClose(NumericGradient(output, f, 1e-3f), grad, 1e-2, name);
}

TEST(LossGradientTest, CrossEntropy) {
  CheckLoss("cross_entropy", Random({4, 5}, 1, -3, 3), testing::Of<int64_t>({0, 4, 2, 2}, {4}));
}
TEST(LossGradientTest, CrossEntropyInt32Labels) {
  CheckLoss("cross_entropy", Random({3, 3}, 2), testing::Of<int32_t>({1, 0, 2}, {3}));
}
TEST(LossGradientTest, BinaryCrossEntropy) {
  CheckLoss("binary_cross_entropy", Random({4, 2}, 3, -4, 4), Random({4, 2}, 4, 0, 1));
}
TEST(LossGradientTest, MeanSquaredError) { CheckLoss("mse", Random({3, 4}, 5), Random({3, 4}, 6)); }

TEST(LossValueTest, CrossEntropyIsStableForHugeLogits) {
  Tensor z = testing::Of<float>({1000.0f, -1000.0f, 0.0f, 0.0f}, {2, 2});
  Tensor y = testing::Of<int64_t>({1, 0}, {2});
  auto loss = (*MakeLoss("cross_entropy"))->Compute(z, y, nullptr);
  ASSERT_TRUE(loss.ok());
  EXPECT_NEAR(*loss, (2000.0 + std::log(2.0)) / 2.0, 1e-6);
}

TEST(LossValueTest, BinaryCrossEntropyIsFiniteWhereSigmoidSaturates) {
  Tensor z = testing::Of<float>({100.0f, -100.0f}, {2, 1});
  Tensor t = testing::Of<float>({0.0f, 1.0f}, {2, 1});
  auto loss = (*MakeLoss("bce"))->Compute(z, t, nullptr);
  ASSERT_TRUE(loss.ok());
  EXPECT_NEAR(*loss, 100.0, 1e-6);
}

TEST(LossErrorTest, CrossEntropyNamesTheBadLabel) {
  Tensor z = Random({3, 4}, 1);
  auto loss = *MakeLoss("cross_entropy");
  Status s = loss->Compute(z, testing::Of<int64_t>({0, 7, 1}, {3}), nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("label 7 at index 1 is out of range [0, 4)"), std::string::npos) << s;
  s = loss->Compute(z, testing::Of<float>({0, 1, 1}, {3}), nullptr).status();
  EXPECT_TRUE(IsTypeError(s)) << s;
  s = loss->Compute(z, testing::Of<int64_t>({0, 1}, {2}), nullptr).status();
  EXPECT_NE(s.message().find("[2]"), std::string::npos) << s;
}

TEST(LossErrorTest, UnknownLossListsTheKnownOnes) {
  Status s = MakeLoss("hinge").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cross_entropy"), std::string::npos);
}

}  // namespace
}  // namespace mlcore::nn

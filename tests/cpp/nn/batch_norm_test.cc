// BatchNorm1d/2d: training statistics, running statistics and their use in inference,
// gradients, and that checkpoints carry the running statistics (buffers) exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectClose;
using testing::NumericGradient;
using testing::Random;

TEST(BatchNormTest, TrainingNormalisesPerChannelAndUpdatesRunningStats) {
  auto layer = *BatchNorm2d({0.25, 1e-5});
  layer->set_name("bn");
  ASSERT_TRUE(layer->Build({3, 4, 5}, 0).ok());
  Tensor x = Random({6, 3, 4, 5}, 1, 2.0f, 6.0f);
  Tensor y = *layer->Forward(x, true);
  std::vector<Parameter*> buffers = layer->buffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0]->name, "bn.running_mean");
  EXPECT_FALSE(buffers[0]->grad.defined());
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0, xs = 0, xsq = 0;
    for (int64_t n = 0; n < 6; ++n) {
      for (int64_t i = 0; i < 20; ++i) {
        const int64_t o = (n * 3 + c) * 20 + i;
        sum += y.data<float>()[o];
        sq += double(y.data<float>()[o]) * y.data<float>()[o];
        xs += x.data<float>()[o];
        xsq += double(x.data<float>()[o]) * x.data<float>()[o];
      }
    }
    EXPECT_NEAR(sum / 120, 0.0, 1e-5);
    EXPECT_NEAR(sq / 120, 1.0, 1e-3);
    const double mean = xs / 120, var_unbiased = (xsq - 120 * mean * mean) / 119;
    EXPECT_NEAR(buffers[0]->value.data<float>()[c], 0.25 * mean, 1e-4);
    EXPECT_NEAR(buffers[1]->value.data<float>()[c], 0.75 + 0.25 * var_unbiased, 1e-4);
  }
}

TEST(BatchNormTest, InferenceUsesRunningStatistics) {
  auto layer = *BatchNorm1d();
  ASSERT_TRUE(layer->Build({2}, 0).ok());
  std::vector<Parameter*> b = layer->buffers();
  b[0]->value.data<float>()[0] = 10.0f;
  b[0]->value.data<float>()[1] = -1.0f;
  b[1]->value.data<float>()[0] = 4.0f;
  b[1]->value.data<float>()[1] = 0.25f;
  layer->parameters()[0]->value.data<float>()[1] = 2.0f;  // gamma
  layer->parameters()[1]->value.data<float>()[0] = 0.5f;  // beta
  Tensor x = testing::Of<float>({12, 0, 10, -1}, {2, 2});
  Tensor y = *layer->Forward(x, false);
  const float s0 = 1.0f / std::sqrt(4.0f + 1e-5f), s1 = 2.0f / std::sqrt(0.25f + 1e-5f);
  EXPECT_NEAR(y.data<float>()[0], 2 * s0 + 0.5f, 1e-5);
  EXPECT_NEAR(y.data<float>()[1], 1 * s1, 1e-5);
  EXPECT_NEAR(y.data<float>()[2], 0.5f, 1e-5);
  EXPECT_NEAR(y.data<float>()[3], 0.0f, 1e-5);
  // Inference leaves the running statistics alone.
  EXPECT_EQ(b[0]->value.data<float>()[0], 10.0f);
}

void CheckGradients(const std::shared_ptr<Layer>& layer, const Shape& input) {
  layer->set_name("bn_t");
  ASSERT_TRUE(layer->Build(Shape(input.begin() + 1, input.end()), 0).ok());
  for (Parameter* p : layer->parameters()) p->value = Random(p->value.shape(), 9, 0.5f, 1.5f);
  Tensor x = Random(input, 1, -2.0f, 2.0f);
  Tensor y = *layer->Forward(x, true);
  Tensor g = Random(y.shape(), 2);
  auto f = [&]() {
    Tensor out = *layer->Forward(x, true);
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i)
      s += double(out.data<float>()[i]) * g.data<float>()[i];
    return s;
  };
  ASSERT_TRUE(layer->Forward(x, true).ok());
  auto dx = layer->Backward(g);
  ASSERT_TRUE(dx.ok()) << dx.status();
  Tensor analytic = *dx->Clone();
  std::vector<Tensor> grads;
  for (Parameter* p : layer->parameters()) grads.push_back(*p->grad.Clone());
  ExpectClose(NumericGradient(x, f, 5e-3f), analytic, 3e-2, "bn input");
  size_t i = 0;
  for (Parameter* p : layer->parameters())
    ExpectClose(NumericGradient(p->value, f), grads[i++], 2e-2, p->name);
}

TEST(BatchNormGradientTest, OneD) { CheckGradients(*BatchNorm1d(), {5, 4}); }
TEST(BatchNormGradientTest, TwoD) { CheckGradients(*BatchNorm2d(), {3, 2, 3, 4}); }

TEST(BatchNormTest, Errors) {
  auto layer = *BatchNorm2d();
  layer->set_name("bn_a");
  auto built = layer->Build({8}, 0);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.status().message().find("bn_a"), std::string::npos);
  EXPECT_NE(built.status().message().find("[8]"), std::string::npos);
  EXPECT_FALSE(BatchNorm1d({1.5, 1e-5}).ok());
  EXPECT_FALSE(BatchNorm1d({0.1, 0.0}).ok());
  auto one = *BatchNorm1d();
  ASSERT_TRUE(one->Build({3}, 0).ok());
  EXPECT_FALSE(one->Forward(Random({1, 3}, 1), true).ok());  // one value per channel
  EXPECT_TRUE(one->Forward(Random({1, 3}, 1), false).ok());
}

TEST(BatchNormTest, OptimisersNeverSeeBuffers) {
  Sequential model({*BatchNorm1d(), *Dense(2)});
  ASSERT_TRUE(model.Build({3}).ok());
  for (Parameter* p : model.parameters()) {
    EXPECT_EQ(p->name.find("running"), std::string::npos) << p->name;
  }
  EXPECT_EQ(model.parameters().size(), 4u);
}

TEST(BatchNormTest, CheckpointRoundTripPredictsIdentically) {
  const std::string dir = ::testing::TempDir() + "/bn_ckpt";
  std::filesystem::remove_all(dir);
  Sequential model({*Conv2d(4, 3, {1, 1, 1, true}), *BatchNorm2d(), ReLU(), *MaxPool2d(2),
                    Flatten(), *Dense(8), *BatchNorm1d(), ReLU(), *Dense(3)});
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("adam", {{"lr", 1e-2}});
  ASSERT_TRUE(model.Compile(options).ok());
  Tensor x = Random({32, 1, 6, 6}, 1);
  std::vector<int64_t> labels(32);
  for (int i = 0; i < 32; ++i) labels[i] = i % 3;
  Tensor y = *Tensor::FromVector(labels, {32});
  FitOptions fit;
  fit.epochs = 3;
  fit.batch_size = 8;
  ASSERT_TRUE(model.Fit(x, y, fit).ok());
  // Training moved the running statistics away from their initial 0 and 1.
  Parameter* rm = model.layers()[1]->buffers()[0];
  EXPECT_NE(rm->value.data<float>()[0], 0.0f);
  ASSERT_TRUE(model.Save(dir).ok());
  auto loaded = LoadModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  Tensor a = *model.Predict(x), b = *(*loaded)->Predict(x);
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << i;
  // LoadWeights into a fresh model of the same architecture restores the buffers too.
  Sequential fresh({*Conv2d(4, 3, {1, 1, 1, true}), *BatchNorm2d(), ReLU(), *MaxPool2d(2),
                    Flatten(), *Dense(8), *BatchNorm1d(), ReLU(), *Dense(3)});
  ASSERT_TRUE(fresh.LoadWeights(dir).ok());
  Tensor c = *fresh.Predict(x);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], c.data<float>()[i]) << i;
}

}  // namespace
}  // namespace mlcore::nn

// Keras's sample_weight and class_weight: the weighted losses (values and finite-difference
// gradients), their identities (weights of 1 change nothing, weight 0 drops a sample,
// class_weight is the matching sample_weight) through TrainStep, Fit and Evaluate, and the
// errors for bad weights.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "mlcore/nn/dataset.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "nn_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::nn::testing {
namespace {

void ExpectSameBits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.numel(), b.numel()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_EQ(a.data<float>()[i], b.data<float>()[i]) << what << " at " << i;
  }
}

void CheckWeightedLoss(const std::string& name, Tensor output, const Tensor& target) {
  auto loss = MakeLoss(name);
  ASSERT_TRUE(loss.ok());
  const int64_t batch = output.shape()[0];
  Tensor w = Random({batch}, 9, 0.0f, 3.0f);
  Tensor grad;
  ASSERT_TRUE((*loss)->ComputeWeighted(output, target, w, &grad).ok());
  auto f = [&]() { return *(*loss)->ComputeWeighted(output, target, w, nullptr); };
  ExpectClose(NumericGradient(output, f, 1e-3f), grad, 1e-2, name);

  // sum(w_i * loss_i) / batch, with loss_i the loss of row i alone.
  double expected = 0.0;
  for (int64_t r = 0; r < batch; ++r) {
    Tensor row_out = *output.Slice(r, r + 1), row_target = *target.Slice(r, r + 1);
    expected += w.data<float>()[r] * *(*loss)->Compute(row_out, row_target, nullptr);
  }
  EXPECT_NEAR(f(), expected / static_cast<double>(batch), 1e-6) << name;
}

TEST(SampleWeightLossTest, CrossEntropyGradientAndValue) {
  CheckWeightedLoss("cross_entropy", Random({5, 4}, 1, -3, 3), Of<int64_t>({0, 3, 2, 2, 1}, {5}));
}
TEST(SampleWeightLossTest, BinaryCrossEntropyGradientAndValue) {
  CheckWeightedLoss("binary_cross_entropy", Random({4, 3}, 3, -4, 4), Random({4, 3}, 4, 0, 1));
}
TEST(SampleWeightLossTest, MeanSquaredErrorGradientAndValue) {
  CheckWeightedLoss("mse", Random({4, 2}, 5), Random({4, 2}, 6));
}

TEST(SampleWeightLossTest, WeightsOfOneAreTheUnweightedLossBitForBit) {
  struct Case {
    const char* loss;
    Tensor out, target;
  };
  std::vector<Case> cases = {
      {"cross_entropy", Random({6, 5}, 1, -3, 3), Of<int64_t>({0, 4, 2, 2, 1, 3}, {6})},
      {"binary_cross_entropy", Random({6, 2}, 2, -4, 4), Random({6, 2}, 3, 0, 1)},
      {"mse", Random({6, 3}, 4), Random({6, 3}, 5)}};
  for (const Case& c : cases) {
    auto loss = *MakeLoss(c.loss);
    Tensor g1, g2;
    const double plain = *loss->Compute(c.out, c.target, &g1);
    const double ones =
        *loss->ComputeWeighted(c.out, c.target, Of<float>({1, 1, 1, 1, 1, 1}, {6}), &g2);
    EXPECT_EQ(plain, ones) << c.loss;
    ExpectSameBits(g1, g2, c.loss);
  }
}

TEST(SampleWeightLossTest, WeightZeroDropsTheSample) {
  auto loss = *MakeLoss("cross_entropy");
  Tensor out = Random({4, 3}, 7, -2, 2);
  Tensor labels = Of<int64_t>({2, 0, 1, 1}, {4});
  Tensor g_weighted, g_kept;
  const double weighted =
      *loss->ComputeWeighted(out, labels, Of<float>({1, 0, 1, 1}, {4}), &g_weighted);
  // The same three samples alone: the mean over 3 instead of the sum over 4.
  Tensor kept_out = Random({3, 3}, 0);
  for (int64_t j = 0; j < 3; ++j) {
    kept_out.data<float>()[j] = out.data<float>()[j];
    kept_out.data<float>()[3 + j] = out.data<float>()[6 + j];
    kept_out.data<float>()[6 + j] = out.data<float>()[9 + j];
  }
  const double kept = *loss->Compute(kept_out, Of<int64_t>({2, 1, 1}, {3}), &g_kept);
  EXPECT_NEAR(weighted * 4.0 / 3.0, kept, 1e-6);
  for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(g_weighted.data<float>()[3 + j], 0.0f);
  const int64_t rows[3] = {0, 2, 3};
  for (int64_t k = 0; k < 3; ++k) {
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(g_weighted.data<float>()[rows[k] * 3 + j] * 4.0f / 3.0f,
                  g_kept.data<float>()[k * 3 + j], 1e-6);
    }
  }
}

TEST(SampleWeightLossTest, WrongWeightShapeNamesBoth) {
  auto loss = *MakeLoss("cross_entropy");
  auto s = loss->ComputeWeighted(Random({4, 3}, 1), Of<int64_t>({0, 1, 2, 0}, {4}),
                                 Of<float>({1, 1, 1}, {3}), nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("sample_weight"), absl::string_view::npos) << s.status();
}

// A small classifier on 4 features, built and compiled from a fixed seed.
std::unique_ptr<Sequential> Classifier(const std::string& loss = "cross_entropy",
                                       int64_t outputs = 3) {
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(8), ReLU(), *Dense(outputs)});
  EXPECT_TRUE(model->Build({4}, 11).ok());
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("sgd", {{"lr", 0.1}, {"momentum", 0.9}});
  options.loss = loss;
  if (loss != "mse") options.metrics = {"accuracy"};
  EXPECT_TRUE(model->Compile(options).ok());
  return model;
}

Tensor Labels(int64_t n, int64_t classes) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (i * 7 + 1) % classes;
  return *Tensor::FromVector(v, {n});
}

void ExpectSameParameters(Model& a, Model& b) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) ExpectSameBits(pa[i]->value, pb[i]->value, pa[i]->name);
}

TEST(SampleWeightModelTest, FitWithWeightsOfOneIsUnweightedFitBitForBit) {
  auto plain = Classifier(), weighted = Classifier();
  Tensor x = Random({40, 4}, 2), y = Labels(40, 3);
  FitOptions fit;
  fit.epochs = 2;
  fit.batch_size = 16;
  fit.seed = 3;
  auto h1 = plain->Fit(x, y, fit);
  ASSERT_TRUE(h1.ok()) << h1.status();
  std::vector<float> ones(40, 1.0f);
  fit.sample_weight = Of<float>(ones, {40});
  auto h2 = weighted->Fit(x, y, fit);
  ASSERT_TRUE(h2.ok()) << h2.status();
  EXPECT_EQ(h1->metrics["loss"], h2->metrics["loss"]);
  ExpectSameParameters(*plain, *weighted);
}

TEST(SampleWeightModelTest, ClassWeightIsTheMatchingSampleWeight) {
  auto by_class = Classifier(), by_sample = Classifier();
  Tensor x = Random({12, 4}, 4), y = Labels(12, 3);
  const ClassWeights cw = {{0, 0.25}, {2, 3.0}};  // class 1 left out: weight 1
  std::vector<float> w(12);
  for (int64_t i = 0; i < 12; ++i) {
    const int64_t c = y.data<int64_t>()[i];
    w[i] = c == 0 ? 0.25f : c == 2 ? 3.0f : 1.0f;
  }
  for (int step = 0; step < 3; ++step) {
    auto a = by_class->TrainStep({x}, {y}, Tensor(), cw);
    auto b = by_sample->TrainStep({x}, {y}, Of<float>(w, {12}), {});
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->loss, b->loss);
  }
  ExpectSameParameters(*by_class, *by_sample);
}

TEST(SampleWeightModelTest, DatasetFitTakesClassWeightButNotSampleWeight) {
  auto on_dataset = Classifier(), on_tensors = Classifier();
  Tensor x = Random({20, 4}, 10), y = Labels(20, 3);
  auto data = Dataset::FromTensors({x}, {y});
  ASSERT_TRUE(data.ok()) << data.status();
  auto batched = (*data)->Batch(8);
  ASSERT_TRUE(batched.ok()) << batched.status();
  FitOptions fit;
  fit.epochs = 2;
  fit.class_weight = {{2, 4.0}};
  ASSERT_TRUE(on_dataset->Fit(**batched, fit).ok());
  fit.batch_size = 8;
  fit.shuffle = false;  // the Dataset's order
  ASSERT_TRUE(on_tensors->Fit(x, y, fit).ok());
  ExpectSameParameters(*on_dataset, *on_tensors);
  fit.sample_weight = Of<float>(std::vector<float>(20, 1.0f), {20});
  auto refused = on_dataset->Fit(**batched, fit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("sample_weight"), absl::string_view::npos);
}

TEST(SampleWeightModelTest, SampleAndClassWeightsMultiply) {
  auto both = Classifier(), product = Classifier();
  Tensor x = Random({6, 4}, 5), y = Labels(6, 3);
  const ClassWeights cw = {{1, 2.0}};
  Tensor sw = Of<float>({0.5f, 1.0f, 2.0f, 0.0f, 1.5f, 1.0f}, {6});
  std::vector<float> w(6);
  for (int64_t i = 0; i < 6; ++i) {
    w[i] = sw.data<float>()[i] * (y.data<int64_t>()[i] == 1 ? 2.0f : 1.0f);
  }
  auto a = both->TrainStep({x}, {y}, sw, cw);
  auto b = product->TrainStep({x}, {y}, Of<float>(w, {6}), {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->loss, b->loss);
  ExpectSameParameters(*both, *product);
}

TEST(SampleWeightModelTest, BinaryClassWeightUsesTheRoundedTarget) {
  auto by_class = Classifier("binary_cross_entropy", 1);
  auto by_sample = Classifier("binary_cross_entropy", 1);
  Tensor x = Random({6, 4}, 6);
  Tensor y = Of<float>({1, 0, 0, 1, 1, 0}, {6, 1});
  auto a = by_class->TrainStep({x}, {y}, Tensor(), {{1, 4.0}});
  auto b = by_sample->TrainStep({x}, {y}, Of<float>({4, 1, 1, 4, 4, 1}, {6}), {});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->loss, b->loss);
  ExpectSameParameters(*by_class, *by_sample);
}

TEST(SampleWeightModelTest, EvaluateWeightsTheLossNotTheAccuracy) {
  auto model = Classifier();
  Tensor x = Random({10, 4}, 7), y = Labels(10, 3);
  std::vector<float> w = {0, 1, 2, 3, 0.5f, 1, 1, 0, 2, 4};
  auto logs = model->EvaluateWeighted({x}, {y}, Of<float>(w, {10}), 4);
  auto plain = model->Evaluate(x, y, 4);
  ASSERT_TRUE(logs.ok()) << logs.status();
  Tensor out = *model->Predict(x);
  auto loss = *MakeLoss("cross_entropy");
  double expected = 0.0;
  for (int64_t i = 0; i < 10; ++i) {
    expected += w[i] * *loss->Compute(*out.Slice(i, i + 1), *y.Slice(i, i + 1), nullptr);
  }
  EXPECT_NEAR((*logs)["loss"], expected / 10.0, 1e-6);
  EXPECT_EQ((*logs)["accuracy"], (*plain)["accuracy"]);
}

void ExpectInvalid(const Status& s, const std::vector<std::string>& words) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  for (const std::string& w : words) {
    EXPECT_NE(s.message().find(w), absl::string_view::npos) << s << " lacks '" << w << "'";
  }
}

TEST(SampleWeightErrorTest, BadWeightsNameTheOptionAndTheIndex) {
  auto model = Classifier();
  Tensor x = Random({5, 4}, 8), y = Labels(5, 3);
  FitOptions fit;
  fit.sample_weight = Of<float>({1, 1, 1}, {3});
  ExpectInvalid(model->Fit(x, y, fit).status(), {"sample_weight", "3 weights for 5 samples"});
  fit.sample_weight = Of<float>({1, 1, 1, -2, 1}, {5});
  ExpectInvalid(model->Fit(x, y, fit).status(), {"sample_weight[3]", "-2"});
  fit.sample_weight = Of<float>({1, std::numeric_limits<float>::quiet_NaN(), 1, 1, 1}, {5});
  ExpectInvalid(model->Fit(x, y, fit).status(), {"sample_weight[1]", "nan"});
  fit.sample_weight = Tensor();
  fit.class_weight = {{7, 2.0}};
  ExpectInvalid(model->Fit(x, y, fit).status(), {"class_weight key 7", "[0, 3)"});
  fit.class_weight = {{1, -1.0}};
  ExpectInvalid(model->Fit(x, y, fit).status(), {"class_weight[1]"});
  ExpectInvalid(model->TrainStep({x}, {y}, Of<float>({1, 1}, {2}), {}).status(),
                {"TrainStep", "sample_weight"});
  ExpectInvalid(model->EvaluateWeighted({x}, {y}, Of<float>({1, 1, 1, 1, -1}, {5})).status(),
                {"Evaluate", "sample_weight[4]"});

  auto regression = Classifier("mse", 2);
  FitOptions reg;
  reg.class_weight = {{0, 2.0}};
  ExpectInvalid(regression->Fit(x, Random({5, 2}, 9), reg).status(), {"class_weight", "mse"});
  auto binary = Classifier("binary_cross_entropy", 1);
  FitOptions bin;
  bin.class_weight = {{2, 2.0}};
  ExpectInvalid(binary->Fit(x, Random({5, 1}, 9, 0, 1), bin).status(), {"class_weight key 2"});
}

}  // namespace
}  // namespace mlcore::nn::testing

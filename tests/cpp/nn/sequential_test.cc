// Sequential end to end: training reaches high accuracy, errors name what is wrong, the gradient
// hook sees every parameter, callbacks stop training, and runs repeat exactly with a seed.
#include "mlcore/nn/sequential.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/layers.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

// Four Gaussian clusters in 8 dimensions, labels 0..3.
struct Blobs {
  Tensor x, y;
};
Blobs MakeBlobs(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  Blobs b{*Tensor::Empty({n, 8}, DType::kFloat32), *Tensor::Empty({n}, DType::kInt64)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 4;
    b.y.data<int64_t>()[i] = label;
    for (int j = 0; j < 8; ++j) {
      b.x.data<float>()[i * 8 + j] = noise(rng) + ((j % 4) == label ? 2.0f : 0.0f);
    }
  }
  return b;
}

std::unique_ptr<Sequential> Mlp(double lr = 0.01) {
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(16), ReLU(), *Dense(4)});
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = lr});
  c.metrics = {"accuracy"};
  EXPECT_TRUE(model->Compile(c).ok());
  return model;
}

TEST(SequentialTest, LearnsBlobsWithValidation) {
  Blobs train = MakeBlobs(400, 1), val = MakeBlobs(200, 2);
  auto model = Mlp();
  FitOptions f;
  f.epochs = 15;
  f.batch_size = 32;
  f.validation_x = val.x;
  f.validation_y = val.y;
  auto history = model->Fit(train.x, train.y, f);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->epochs_run, 15);
  ASSERT_EQ(history->metrics["loss"].size(), 15u);
  EXPECT_LT(history->metrics["loss"].back(), history->metrics["loss"].front());
  EXPECT_GT(history->metrics["val_accuracy"].back(), 0.95);
  auto eval = model->Evaluate(val.x, val.y);
  ASSERT_TRUE(eval.ok());
  EXPECT_DOUBLE_EQ((*eval)["accuracy"], history->metrics["val_accuracy"].back());
  auto pred = model->Predict(val.x, 64);
  ASSERT_TRUE(pred.ok());
  EXPECT_EQ(pred->shape(), (Shape{200, 4}));
  EXPECT_EQ(model->NumParameters(), 8 * 16 + 16 + 16 * 4 + 4);
}

TEST(SequentialTest, SameSeedsGiveTheSameWeights) {
  Blobs train = MakeBlobs(128, 3);
  FitOptions f;
  f.epochs = 2;
  f.seed = 9;
  auto a = Mlp(), b = Mlp();
  ASSERT_TRUE(a->Fit(train.x, train.y, f).ok());
  ASSERT_TRUE(b->Fit(train.x, train.y, f).ok());
  for (size_t i = 0; i < a->parameters().size(); ++i) {
    const Tensor& pa = a->parameters()[i]->value;
    const Tensor& pb = b->parameters()[i]->value;
    for (int64_t j = 0; j < pa.numel(); ++j) ASSERT_EQ(pa.data<float>()[j], pb.data<float>()[j]);
  }
}

TEST(SequentialTest, ShapeMismatchNamesTheLayerAndBothShapes) {
  auto model = Mlp();
  ASSERT_TRUE(model->Build({8}).ok());
  Tensor wrong = testing::Random({5, 7}, 1);
  Status s = model->Predict(wrong).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("dense_0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("[-1, 8]"), std::string::npos) << s;
  EXPECT_NE(s.message().find("[5, 7]"), std::string::npos) << s;
}

TEST(SequentialTest, BadLabelsFailFitWithTheReason) {
  Blobs train = MakeBlobs(32, 1);
  auto model = Mlp();
  train.y.data<int64_t>()[5] = 4;
  FitOptions f;
  f.shuffle = false;
  Status s = model->Fit(train.x, train.y, f).status();
  EXPECT_NE(s.message().find("label 4 at index 5 is out of range [0, 4)"), std::string::npos) << s;
  Tensor float_labels = *Tensor::Zeros({32}, DType::kFloat32);
  s = model->Fit(train.x, float_labels, f).status();
  EXPECT_TRUE(IsTypeError(s)) << s;
  Tensor short_labels = *Tensor::Zeros({31}, DType::kInt64);
  s = model->Fit(train.x, short_labels, f).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(SequentialTest, InputDtypesAreCheckedAgainstTheFirstLayerByName) {
  Blobs train = MakeBlobs(32, 1);
  auto model = Mlp();
  FitOptions f;
  // An integer input a Dense layer cannot take: a bad value (not a type error) naming both.
  Tensor ints = *Tensor::Zeros({32, 8}, DType::kInt64);
  Status s = model->Fit(ints, train.y, f).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(IsTypeError(s)) << s;
  EXPECT_NE(s.message().find("input has dtype int64"), std::string::npos) << s;
  EXPECT_NE(s.message().find("dense_0"), std::string::npos) << s;
  // uint8 is taken as int64 indices, as the Python binding converts it: Dense names it.
  Tensor bytes = *Tensor::Zeros({32, 8}, DType::kUInt8);
  s = model->Fit(bytes, train.y, f).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("cannot take int64 input"), std::string::npos) << s;
  // A dtype no layer takes is refused before training, naming the input.
  Tensor halves = *Tensor::Zeros({32, 8}, DType::kBFloat16);
  s = model->Fit(halves, train.y, f).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("input 0 has dtype bfloat16"), std::string::npos) << s;
  s = model->Evaluate(halves, train.y).status();
  EXPECT_NE(s.message().find("input 0 has dtype bfloat16"), std::string::npos) << s;
}

TEST(SequentialTest, NonFiniteLossStopsOrSkips) {
  Blobs train = MakeBlobs(64, 1);
  train.x.data<float>()[8 * 10] = NAN;  // one bad sample in the first batch
  FitOptions f;
  f.batch_size = 16;
  f.shuffle = false;
  auto model = Mlp();
  Status s = model->Fit(train.x, train.y, f).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("epoch 0, batch 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("not finite"), std::string::npos) << s;

  auto skipping = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(16), ReLU(), *Dense(4)});
  CompileOptions c;
  c.optimizer = *optim::Sgd({.lr = 0.1});
  c.on_non_finite = NonFinitePolicy::kSkipStep;
  ASSERT_TRUE(skipping->Compile(c).ok());
  auto history = skipping->Fit(train.x, train.y, f);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->metrics["skipped_steps"][0], 1.0);
  EXPECT_TRUE(std::isfinite(history->metrics["loss"][0]));
  for (Parameter* p : skipping->parameters()) {
    for (int64_t i = 0; i < p->value.numel(); ++i)
      ASSERT_TRUE(std::isfinite(p->value.data<float>()[i]));
  }
}

TEST(SequentialTest, GradientHookSeesEveryParameterLastLayerFirst) {
  Blobs train = MakeBlobs(16, 1);
  auto model = Mlp();
  std::vector<std::string> seen;
  model->SetGradReadyHook([&](Parameter& p) {
    seen.push_back(p.name);
    EXPECT_EQ(p.grad.shape(), p.value.shape());
    return absl::OkStatus();
  });
  ASSERT_TRUE(model->TrainStep(train.x, train.y).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"dense_2.kernel", "dense_2.bias", "dense_0.kernel",
                                            "dense_0.bias"}));
  model->SetGradReadyHook([](Parameter&) { return absl::AbortedError("reducer failed"); });
  EXPECT_EQ(model->TrainStep(train.x, train.y).status().code(), absl::StatusCode::kAborted);
}

TEST(SequentialTest, CallbacksStopTraining) {
  Blobs train = MakeBlobs(64, 1);
  auto model = Mlp();
  FitOptions f;
  f.epochs = 20;
  std::vector<std::pair<double, int>> reports;
  f.callbacks.push_back(Reporter("accuracy", [&](double v, int epoch) -> StatusOr<bool> {
    reports.emplace_back(v, epoch);
    return epoch == 2;  // a pruned trial
  }));
  std::ostringstream progress;
  f.callbacks.push_back(ProgressLogger(&progress));
  auto history = model->Fit(train.x, train.y, f);
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->stopped_early);
  EXPECT_EQ(history->epochs_run, 3);
  EXPECT_EQ(reports.size(), 3u);
  // The count is the Fit's own when the logger is not given one.
  EXPECT_NE(progress.str().find("epoch 3/20 - accuracy"), std::string::npos) << progress.str();
  std::ostringstream given;
  f.callbacks = {ProgressLogger(&given, 5)};
  f.epochs = 1;
  ASSERT_TRUE(model->Fit(train.x, train.y, f).ok());
  EXPECT_EQ(given.str().rfind("epoch 1/5 - ", 0), 0u) << given.str();
  f.epochs = 20;

  EarlyStoppingOptions es;
  es.monitor = "loss";
  es.patience = 2;
  es.min_delta = 1e9;  // nothing counts as improving after the first epoch
  f.callbacks = {*EarlyStopping(es)};
  history = model->Fit(train.x, train.y, f);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->epochs_run, 3);

  es.monitor = "val_loss";
  f.callbacks = {*EarlyStopping(es)};
  Status s = model->Fit(train.x, train.y, f).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("val_loss"), std::string::npos);
}

TEST(SequentialTest, ClippingAndScheduleApply) {
  Blobs train = MakeBlobs(64, 1);
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(8), GELU(), *Dropout(0.1, 1), *Dense(4)});
  CompileOptions c;
  c.optimizer = *optim::Sgd({.lr = 0.5, .momentum = 0.9, .nesterov = true});
  c.schedule = *optim::LinearWarmup(4, *optim::CosineDecay(100));
  c.clip_grad_norm = 1.0;
  c.metrics = {"accuracy"};
  ASSERT_TRUE(model->Compile(c).ok());
  FitOptions f;
  f.epochs = 2;
  f.batch_size = 16;
  auto history = model->Fit(train.x, train.y, f);
  ASSERT_TRUE(history.ok()) << history.status();
  // 8 steps taken: the logged lr is the schedule's at step 8 (4 into the cosine).
  EXPECT_NEAR(history->metrics["lr"][1], 0.5 * 0.5 * (1 + std::cos(M_PI * 4 / 100)), 1e-12);
}

TEST(SequentialTest, CudaWithoutAGpuIsAClearError) {
  Blobs train = MakeBlobs(8, 1);
  auto model = Mlp();
  FitOptions f;
  f.device = "cuda";
  Status s = model->Fit(train.x, train.y, f).status();
  if (cuda::IsAvailable()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("no CUDA device"), std::string::npos) << s;
  f.device = "tpu";
  EXPECT_EQ(model->Fit(train.x, train.y, f).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SequentialTest, CompileAndBuildErrors) {
  Sequential model({*Dense(4)});
  EXPECT_FALSE(model.Compile({}).ok());
  CompileOptions c;
  c.optimizer = *optim::Sgd();
  c.metrics = {"f1"};
  EXPECT_EQ(model.Compile(c).code(), absl::StatusCode::kInvalidArgument);
  c.metrics = {"accuracy"};
  c.loss = "mse";
  EXPECT_FALSE(model.Compile(c).ok());
  Status s = Sequential({*Dense(4)}).Build({2, 3});
  EXPECT_NE(s.message().find("Flatten"), std::string::npos) << s;
  auto relu = ReLU();
  EXPECT_FALSE(Sequential({relu, relu}).Build({3}).ok());
}

}  // namespace
}  // namespace mlcore::nn

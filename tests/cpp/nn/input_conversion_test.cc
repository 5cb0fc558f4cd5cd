// Fit, Evaluate, Predict and TrainStep take float64 features and labels of any integer width,
// converted as the Python binding converts numpy arrays (float64 -> float32, uint8/bool ->
// int64, any target -> float32 for mse / binary cross-entropy): a model trained on converted
// data is bit for bit the one trained on float32 / int64 data. Also: Sequential takes the
// layer factories as they return ({Dense(64), ReLU(), Dense(3)}).
#include <gtest/gtest.h>

#include <random>

#include "mlcore/core/tensor_values.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"

namespace mlcore::nn {
namespace {

struct Data {
  Tensor x32, x64, y64, y8, y32;
};

// Float64 features holding float32 values exactly, so the conversion loses nothing.
Data MakeData(int64_t n) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  Data d{*Tensor::Empty({n, 6}, DType::kFloat32), *Tensor::Empty({n, 6}, DType::kFloat64),
         *Tensor::Empty({n}, DType::kInt64), *Tensor::Empty({n}, DType::kUInt8),
         *Tensor::Empty({n}, DType::kInt32)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 3;
    d.y64.data<int64_t>()[i] = label;
    d.y8.data<uint8_t>()[i] = static_cast<uint8_t>(label);
    d.y32.data<int32_t>()[i] = static_cast<int32_t>(label);
    for (int j = 0; j < 6; ++j) {
      const float v = noise(rng) + (j % 3 == label ? 1.5f : 0.0f);
      d.x32.data<float>()[i * 6 + j] = v;
      d.x64.data<double>()[i * 6 + j] = v;
    }
  }
  return d;
}

std::unique_ptr<Sequential> Model3(const std::string& loss = "cross_entropy") {
  // The factories as they return: StatusOr (Dense) beside shared_ptr (ReLU).
  std::unique_ptr<Sequential> model(new Sequential({Dense(16), ReLU(), Dense(3)}));
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 0.01});
  c.loss = loss;
  if (loss == "cross_entropy") c.metrics = {"accuracy"};
  EXPECT_TRUE(model->Compile(c).ok());
  EXPECT_TRUE(model->Build({6}, /*seed=*/3).ok());
  return model;
}

FitOptions Options() {
  FitOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  o.seed = 1;
  return o;
}

TEST(InputConversionTest, Float64FeaturesAndNarrowLabelsTrainAsFloat32AndInt64) {
  const Data d = MakeData(96);
  auto reference = Model3();
  auto converted = Model3();
  auto h_ref = reference->Fit(d.x32, d.y64, Options());
  ASSERT_TRUE(h_ref.ok()) << h_ref.status();
  FitOptions o = Options();
  o.validation_x = d.x64;
  o.validation_y = d.y8;
  auto h = converted->Fit(d.x64, d.y8, o);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->metrics.at("loss"), h_ref->metrics.at("loss"));
  EXPECT_TRUE(h->metrics.count("val_loss"));

  auto p_ref = reference->Predict(d.x32);
  auto p = converted->Predict(d.x64);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->dtype(), DType::kFloat32);
  EXPECT_EQ(*ToVector<float>(*p), *ToVector<float>(*p_ref));

  auto e_ref = reference->Evaluate(d.x32, d.y64);
  for (const Tensor& labels : {d.y8, d.y32}) {
    auto e = converted->Evaluate(d.x64, labels);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->at("loss"), e_ref->at("loss"));
    EXPECT_EQ(e->at("accuracy"), e_ref->at("accuracy"));
  }
  auto step = converted->TrainStep(d.x64, d.y8);
  ASSERT_TRUE(step.ok()) << step.status();
}

TEST(InputConversionTest, MseTargetsOfAnyDtypeAreFloat32) {
  const Data d = MakeData(32);
  auto reference = Model3("mse");
  auto converted = Model3("mse");
  auto y = Tensor::Empty({32, 3}, DType::kFloat32);
  auto y_int = Tensor::Empty({32, 3}, DType::kInt32);
  for (int64_t i = 0; i < 96; ++i) {
    y->data<float>()[i] = static_cast<float>(i % 2);
    y_int->data<int32_t>()[i] = static_cast<int32_t>(i % 2);
  }
  auto h_ref = reference->Fit(d.x32, *y, Options());
  auto h = converted->Fit(d.x64, *y_int, Options());
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->metrics.at("loss"), h_ref->metrics.at("loss"));
}

TEST(InputConversionTest, WhatPythonRefusesStaysAnError) {
  // Python passes float targets of a classification loss on unchanged, and the loss names them.
  const Data d = MakeData(8);
  auto model = Model3();
  auto y = Tensor::Empty({8}, DType::kFloat64);
  for (int64_t i = 0; i < 8; ++i) y->data<double>()[i] = 0.5;
  EXPECT_FALSE(model->Fit(d.x64, *y, Options()).ok());
}

TEST(InputConversionTest, SequentialReportsAFailedFactory) {
  Sequential model({Dense(0), ReLU(), Dense(3)});
  Status st = model.Build({4});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

}  // namespace
}  // namespace mlcore::nn

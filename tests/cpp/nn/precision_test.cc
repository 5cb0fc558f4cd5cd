// Model-level compute precision (Model::set_precision): Predict, Evaluate, the custom-loop entry
// points and Fit all multiply in bf16 once it is set (the CPU emulation: bf16-rounded operands,
// float32 sums), FitOptions::precision overrides it for one Fit, and checkpoints neither store
// nor change it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "nn/bf16.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Sequential> Model1(uint64_t seed) {
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(32), Tanh(), *Dense(5)});
  EXPECT_TRUE(model->Build({16}, seed).ok());
  CompileOptions c;
  c.optimizer = *optim::Sgd({.lr = 0.1});
  EXPECT_TRUE(model->Compile(c).ok());
  return model;
}

Tensor Labels(int64_t n) {
  Tensor y = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = i % 5;
  return y;
}

bool Identical(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(ModelPrecisionTest, PredictInBf16IsTheRoundedProduct) {
  auto model = Model1(1);
  Tensor x = testing::Random({8, 16}, 2);
  EXPECT_EQ(model->precision(), "float32");
  Tensor f32 = *model->Predict(x);
  ASSERT_TRUE(model->set_precision("bf16").ok());
  EXPECT_EQ(model->precision(), "bf16");
  Tensor bf16 = *model->Predict(x);
  // The same model computed by hand with each GEMM's operands rounded to bf16.
  auto params = model->parameters();  // kernel0, bias0, kernel1, bias1
  auto dense = [](const Tensor& in, const Parameter* w, const Parameter* b, int64_t n, int64_t k,
                  int64_t m) {
    std::vector<float> xr(in.data<float>(), in.data<float>() + n * k);
    std::vector<float> wr(w->value.data<float>(), w->value.data<float>() + k * m);
    internal::RoundToBf16(xr.data(), xr.data(), xr.size());
    internal::RoundToBf16(wr.data(), wr.data(), wr.size());
    Tensor out = *Tensor::Empty({n, m}, DType::kFloat32);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        double s = b->value.data<float>()[j];
        for (int64_t p = 0; p < k; ++p) s += double(xr[i * k + p]) * wr[p * m + j];
        out.data<float>()[i * m + j] = static_cast<float>(s);
      }
    }
    return out;
  };
  Tensor h = dense(x, params[0], params[1], 8, 16, 32);
  for (int64_t i = 0; i < h.numel(); ++i) h.data<float>()[i] = std::tanh(h.data<float>()[i]);
  Tensor want = dense(h, params[2], params[3], 8, 32, 5);
  double max_diff_f32 = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    EXPECT_NEAR(bf16.data<float>()[i], want.data<float>()[i], 1e-4) << i;
    max_diff_f32 =
        std::max(max_diff_f32, double(std::abs(bf16.data<float>()[i] - f32.data<float>()[i])));
  }
  // Different from float32, by about bf16's relative step (2^-8) of values of order 1.
  EXPECT_GT(max_diff_f32, 1e-4);
  EXPECT_LT(max_diff_f32, 0.05);
  ASSERT_TRUE(model->set_precision("float32").ok());
  EXPECT_TRUE(Identical(*model->Predict(x), f32));
}

TEST(ModelPrecisionTest, EvaluateAndCustomLoopsFollowTheModel) {
  auto model = Model1(3);
  Tensor x = testing::Random({32, 16}, 4);
  Tensor y = Labels(32);
  const double f32 = (*model->Evaluate(x, y))["loss"];
  Tensor out32 = (*model->ForwardAll({x}, true))[0];
  ASSERT_TRUE(model->set_precision("bfloat16").ok());
  const double bf16 = (*model->Evaluate(x, y))["loss"];
  EXPECT_NE(f32, bf16);
  EXPECT_NEAR(f32, bf16, 0.01 * f32);
  EXPECT_FALSE(Identical((*model->ForwardAll({x}, true))[0], out32));
  // The thread's precision is back to float32 after each call.
  EXPECT_EQ(internal::ComputePrecision(), internal::Precision::kFloat32);
}

// A float32 model leaves an enclosing internal scope (a benchmark's) in force; a bf16 one and a
// Fit's FitOptions::precision decide for themselves.
TEST(ModelPrecisionTest, AFloat32ModelKeepsTheThreadsScope) {
  auto model = Model1(11);
  Tensor x = testing::Random({8, 16}, 12);
  Tensor f32 = *model->Predict(x);
  ASSERT_TRUE(model->set_precision("bf16").ok());
  Tensor bf16 = *model->Predict(x);
  ASSERT_TRUE(model->set_precision("float32").ok());
  internal::ScopedComputePrecision scope(internal::Precision::kBFloat16);
  EXPECT_TRUE(Identical(*model->Predict(x), bf16));
  EXPECT_FALSE(Identical(bf16, f32));
}

TEST(ModelPrecisionTest, FitUsesTheModelsPrecisionUnlessFitOptionsOverride) {
  Tensor x = testing::Random({64, 16}, 5);
  Tensor y = Labels(64);
  FitOptions f;
  f.epochs = 2;
  f.batch_size = 16;
  auto weights = [&](const std::string& model_precision, const std::string& fit_precision) {
    auto model = Model1(6);
    EXPECT_TRUE(model->set_precision(model_precision).ok());
    FitOptions o = f;
    o.precision = fit_precision;
    EXPECT_TRUE(model->Fit(x, y, o).ok());
    EXPECT_EQ(model->precision(), model_precision);  // an override lasts one Fit
    return *model->parameters()[0]->value.Clone();
  };
  const Tensor plain = weights("float32", "");
  const Tensor by_model = weights("bf16", "");
  const Tensor by_fit = weights("float32", "bf16");
  EXPECT_FALSE(Identical(plain, by_model));
  EXPECT_TRUE(Identical(by_model, by_fit));
  EXPECT_TRUE(Identical(weights("bf16", "float32"), plain));
}

TEST(ModelPrecisionTest, BadNamesAreRefusedAndNothingChanges) {
  auto model = Model1(7);
  ASSERT_TRUE(model->set_precision("bf16").ok());
  Status s = model->set_precision("fp8");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("fp8"), std::string::npos);
  EXPECT_EQ(model->precision(), "bf16");
  FitOptions f;
  f.precision = "half";
  auto fit = model->Fit(testing::Random({8, 16}, 8), Labels(8), f);
  EXPECT_EQ(fit.status().code(), absl::StatusCode::kInvalidArgument);
}

using ModelPrecisionFileTest = testing::TempDirTest;

TEST_F(ModelPrecisionFileTest, CheckpointsNeitherStoreNorChangeIt) {
  const fs::path dir = dir_;
  auto model = Model1(9);
  Tensor x = testing::Random({8, 16}, 10);
  Tensor f32 = *model->Predict(x);
  ASSERT_TRUE(model->set_precision("bf16").ok());
  ASSERT_TRUE(model->Save(dir.string()).ok());
  EXPECT_EQ(model->precision(), "bf16");
  ASSERT_TRUE(model->LoadWeights(dir.string()).ok());
  EXPECT_EQ(model->precision(), "bf16");
  auto loaded = LoadModel(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->precision(), "float32");
  EXPECT_TRUE(Identical(*(*loaded)->Predict(x), f32));  // float32 weights, saved exactly
}

}  // namespace
}  // namespace mlcore::nn

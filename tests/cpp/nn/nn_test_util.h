// Helpers for the nn tests: random tensors, a central-difference gradient and a scratch
// directory per test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "mlcore/core/tensor.h"
#include "mlcore/nn/loss.h"
#include "mlcore/nn/model.h"

namespace mlcore::nn::testing {

// A test with its own scratch directory `dir_`, named after the test and the process, empty at
// the start (not created: a checkpoint writer creates it) and removed at the end.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mlcore_nn_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

inline Tensor Random(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  auto t = Tensor::Empty(shape, DType::kFloat32);
  EXPECT_TRUE(t.ok()) << t.status();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t->numel(); ++i) t->data<float>()[i] = dist(rng);
  return *t;
}

// Two [n, 4] float inputs and int64 labels: 1 when sum(a) > sum(b), which neither input alone
// predicts (graph models with two inputs, a shared encoder seeing both).
struct TwoInputs {
  Tensor a, b, y;
};
inline TwoInputs MakeTwoInputs(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist;
  TwoInputs d{*Tensor::Empty({n, 4}, DType::kFloat32), *Tensor::Empty({n, 4}, DType::kFloat32),
              *Tensor::Empty({n}, DType::kInt64)};
  for (int64_t i = 0; i < n; ++i) {
    float sa = 0, sb = 0;
    for (int j = 0; j < 4; ++j) {
      sa += d.a.data<float>()[i * 4 + j] = dist(rng);
      sb += d.b.data<float>()[i * 4 + j] = dist(rng);
    }
    d.y.data<int64_t>()[i] = sa > sb ? 1 : 0;
  }
  return d;
}

template <typename T>
Tensor Of(const std::vector<T>& values, const Shape& shape) {
  auto t = Tensor::FromVector(values, shape);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// d f / d x[i] for every i by central differences (in double around float32 values).
inline std::vector<double> NumericGradient(Tensor& x, const std::function<double()>& f,
                                           float eps = 1e-2f) {
  std::vector<double> grad(x.numel());
  float* d = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float saved = d[i];
    d[i] = saved + eps;
    const double up = f();
    d[i] = saved - eps;
    const double down = f();
    d[i] = saved;
    grad[i] = (up - down) / (2.0 * eps);
  }
  return grad;
}

inline void ExpectClose(const std::vector<double>& numeric, const Tensor& analytic, double tol,
                        const std::string& what) {
  ASSERT_EQ(static_cast<int64_t>(numeric.size()), analytic.numel()) << what;
  for (size_t i = 0; i < numeric.size(); ++i) {
    const double a = analytic.data<float>()[i];
    EXPECT_NEAR(a, numeric[i], tol * (1.0 + std::abs(numeric[i]))) << what << " at " << i;
  }
}

// Checks a built layer's backward against central differences of f = sum(g * layer(x)) for the
// fixed x and g: d f/dx (reported as `input_name`) and d f/d every parameter, each within
// ExpectClose's tol. f's forwards are inference ones unless `training_forwards` (a layer whose
// training output is what its backward differentiates, such as BatchNorm's).
inline void ExpectBackwardMatchesCentralDifferences(Layer& layer, Tensor& x, const Tensor& g,
                                                    double tol, const std::string& input_name,
                                                    bool training_forwards = false) {
  auto f = [&]() {
    auto out = layer.Forward(x, training_forwards);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return 0.0;
    double s = 0;
    for (int64_t i = 0; i < out->numel(); ++i)
      s += double(out->data<float>()[i]) * g.data<float>()[i];
    return s;
  };
  ASSERT_TRUE(layer.Forward(x, true).ok());
  auto dx = layer.Backward(g);
  ASSERT_TRUE(dx.ok()) << dx.status();
  Tensor dx_copy = *dx->Clone();
  std::vector<Tensor> grads;
  for (Parameter* p : layer.parameters()) grads.push_back(*p->grad.Clone());
  ExpectClose(NumericGradient(x, f), dx_copy, tol, input_name);
  size_t i = 0;
  for (Parameter* p : layer.parameters())
    ExpectClose(NumericGradient(p->value, f), grads[i++], tol, p->name);
}

// The sum over outputs of `loss` on an inference forward of `model` (for NumericGradient).
inline double TotalLoss(Model& model, const TensorList& x, const TensorList& y, Loss& loss) {
  auto out = model.ForwardAll(x, /*training=*/false);
  EXPECT_TRUE(out.ok()) << out.status();
  double total = 0;
  for (size_t i = 0; i < y.size(); ++i) total += *loss.Compute((*out)[i], y[i], nullptr);
  return total;
}

// One training forward and backward of TotalLoss, with a gradient-ready hook recording the
// order in which parameters were reported and the gradient each had at that moment.
struct HookedBackward {
  std::vector<std::string> order;
  std::map<std::string, Tensor> at_hook;
};
inline HookedBackward BackwardWithHook(Model& model, const TensorList& x, const TensorList& y,
                                       Loss& loss) {
  HookedBackward seen;
  auto out = model.ForwardAll(x, /*training=*/true);
  EXPECT_TRUE(out.ok()) << out.status();
  TensorList grads(y.size());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_TRUE(loss.Compute((*out)[i], y[i], &grads[i]).ok());
  model.SetGradReadyHook([&](Parameter& p) {
    seen.order.push_back(p.name);
    seen.at_hook[p.name] = *p.grad.Clone();
    return absl::OkStatus();
  });
  Status backward = model.BackwardAll(grads);
  model.SetGradReadyHook(nullptr);
  EXPECT_TRUE(backward.ok()) << backward;
  return seen;
}

}  // namespace mlcore::nn::testing

// Helpers for the nn tests: random tensors and a central-difference gradient.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <vector>

#include "mlcore/core/tensor.h"

namespace mlcore::nn::testing {

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

}  // namespace mlcore::nn::testing

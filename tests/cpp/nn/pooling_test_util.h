// Helpers of the pooling tests (pooling_test.cc, pooling_options_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "mlcore/nn/layers.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn::testing {

// `layer` built for x's sample shape, applied to x.
inline Tensor RunPool(const std::shared_ptr<Layer>& layer, const Tensor& x, bool training = false) {
  Shape sample(x.shape().begin() + 1, x.shape().end());
  EXPECT_TRUE(layer->Build(sample, 0).ok());
  auto y = layer->Forward(x, training);
  EXPECT_TRUE(y.ok()) << y.status();
  return *y;
}

inline std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// The layer's input gradient against central differences (Random and NumericGradient from
// nn_test_util.h), on distinct inputs so a small step never changes which tap is the max.
inline void CheckGradients(const std::shared_ptr<Layer>& layer, const Shape& input) {
  layer->set_name("pool_t");
  ASSERT_TRUE(layer->Build(Shape(input.begin() + 1, input.end()), 0).ok());
  // Distinct values well apart so a small perturbation never changes which input is the max.
  Tensor x = *Tensor::Empty(input, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float((i * 37) % 101) * 0.1f;
  Tensor y = *layer->Forward(x, true);
  Tensor g = Random(y.shape(), 2);
  auto f = [&]() {
    Tensor out = *layer->Forward(x, false);
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i)
      s += double(out.data<float>()[i]) * g.data<float>()[i];
    return s;
  };
  auto dx = layer->Backward(g);
  ASSERT_TRUE(dx.ok()) << dx.status();
  Tensor analytic = *dx->Clone();
  ExpectClose(NumericGradient(x, f, 1e-3f), analytic, 2e-2, layer->type());
}

}  // namespace mlcore::nn::testing

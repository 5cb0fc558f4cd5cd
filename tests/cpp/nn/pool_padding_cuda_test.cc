// The CUDA twins of the PyTorch / Keras pooling and padding options against the CPU: MaxPool2d
// with dilation and ceil_mode, AvgPool2d with ceil_mode, count_include_pad and divisor_override,
// padding="same" pools, Conv2d with asymmetric "same" padding (explicit bottom/right padding on
// CUDA) on each CUDA backend, and the global pooling layers. Skipped without a usable GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/layers.h"
#include "nn/conv2d.h"
#include "nn/nn_cuda_test_util.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectNear;

// Two copies of a layer built alike, one on the GPU: training forward, input gradient,
// parameter gradients and an inference forward must agree.
void Compare(const std::function<std::shared_ptr<Layer>()>& make, const Shape& input) {
  auto cpu = make(), gpu = make();
  Shape sample(input.begin() + 1, input.end());
  ASSERT_TRUE(cpu->Build(sample, 3).ok());
  ASSERT_TRUE(gpu->Build(sample, 3).ok());
  for (Parameter* p : gpu->parameters()) {
    p->value = *p->value.To(Device::CUDA(0));
    p->grad = *p->grad.To(Device::CUDA(0));
  }
  Tensor x = testing::Random(input, 1);
  Tensor xg = *x.To(Device::CUDA(0));
  Tensor y = *cpu->Forward(x, true);
  auto yg = gpu->Forward(xg, true);
  ASSERT_TRUE(yg.ok()) << yg.status();
  ExpectNear(y, *yg, 1e-4, cpu->type() + " forward");
  Tensor g = testing::Random(y.shape(), 2);
  Tensor dx = *cpu->Backward(g);
  auto dxg = gpu->Backward(*g.To(Device::CUDA(0)));
  ASSERT_TRUE(dxg.ok()) << dxg.status();
  ExpectNear(dx, *dxg, 1e-4, cpu->type() + " backward");
  for (size_t i = 0; i < cpu->parameters().size(); ++i) {
    ExpectNear(cpu->parameters()[i]->grad, gpu->parameters()[i]->grad, 1e-4,
               cpu->parameters()[i]->name);
  }
  auto ig = gpu->Forward(xg, false);
  ASSERT_TRUE(ig.ok()) << ig.status();
  ExpectNear(*cpu->Forward(x, false), *ig, 1e-4, cpu->type() + " inference");
}

TEST(PoolPaddingCudaTest, PoolOptionsMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  Compare(
      [] {
        Pool2dOptions o;
        o.stride = 2;
        o.padding = 1;
        o.dilation_hw = HW{2, 1};
        o.ceil_mode = true;
        return *MaxPool2d(3, o);
      },
      {3, 4, 11, 10});
  for (bool include : {true, false}) {
    for (int64_t divisor : {0, 5}) {
      Compare(
          [=] {
            Pool2dOptions o;
            o.stride = 2;
            o.padding_hw = HW{1, 0};
            o.ceil_mode = true;
            o.count_include_pad = include;
            o.divisor_override = divisor;
            return *AvgPool2d({3, 2}, o);
          },
          {2, 3, 10, 9});
    }
  }
  Compare(
      [] {
        Pool2dOptions o;
        o.padding_mode = PaddingMode::kSame;
        return *MaxPool2d(2, o);
      },
      {2, 3, 7, 5});
  Compare(
      [] {
        Pool2dOptions o;
        o.stride = 1;
        o.count_include_pad = false;
        o.padding_mode = PaddingMode::kSame;
        return *AvgPool2d({4, 3}, o);
      },
      {2, 3, 6, 5});
}

TEST(PoolPaddingCudaTest, SamePaddedConvolutionsMatchTheCpuOnEveryBackend) {
  SKIP_WITHOUT_GPU();
  std::vector<cuda::ConvBackend> backends = {cuda::ConvBackend::kIm2col};
  if (internal::ConvCudaHasCudnn()) backends.push_back(cuda::ConvBackend::kCudnn);
  for (cuda::ConvBackend b : backends) {
    SCOPED_TRACE(b == cuda::ConvBackend::kCudnn ? "cuDNN" : "im2col");
    internal::SetConvCudaBackendForTesting(b);
    // Even kernel at stride 1 (one more row and column after), Keras' stride 2, and only one
    // axis asymmetric.
    Compare(
        [] {
          Conv2dOptions o;
          o.padding_mode = PaddingMode::kSame;
          return *Conv2d(5, {4, 2}, o);
        },
        {3, 3, 9, 8});
    Compare(
        [] {
          Conv2dOptions o;
          o.stride = 2;
          o.padding_mode = PaddingMode::kSame;
          return *Conv2d(4, 3, o);
        },
        {2, 3, 7, 8});
    Compare(
        [] {
          Conv2dOptions o;
          o.groups = 2;
          o.padding_mode = PaddingMode::kSame;
          return *Conv2d(4, {3, 2}, o);
        },
        {2, 4, 6, 7});
  }
  internal::SetConvCudaBackendForTesting(std::nullopt);
}

TEST(PoolPaddingCudaTest, GlobalPoolingMatchesItsCpuTwin) {
  SKIP_WITHOUT_GPU();
  Compare([] { return GlobalAveragePooling2D(); }, {3, 5, 7, 6});
  Compare([] { return GlobalMaxPooling2D(); }, {3, 5, 7, 6});
}

}  // namespace
}  // namespace mlcore::nn

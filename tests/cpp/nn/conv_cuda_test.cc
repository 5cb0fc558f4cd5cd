// The CUDA twins of Conv2d (cuDNN and the im2col fallback; square, rectangular and grouped
// windows; float32 and bf16), the pooling layers, BatchNorm and Embedding against their CPU
// twins (forward, input gradient, parameter gradients, running statistics), and a conv net
// trained on the GPU against the same net on the CPU. Skipped without a usable GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/bf16.h"
#include "nn/conv2d.h"
#include "nn/nn_cuda_test_util.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectNear;
using testing::Gpu;
using testing::Host;

// Two copies of a layer with the same initial state, one on the GPU: training forward, backward
// and an inference forward must agree, and so must the buffers afterwards.
void CompareLayer(const std::function<std::shared_ptr<Layer>()>& make, const Tensor& x,
                  bool input_grad = true, double tol = 1e-4) {
  auto cpu = make(), gpu = make();
  cpu->set_name("l");
  gpu->set_name("l");
  Shape sample(x.shape().begin() + 1, x.shape().end());
  ASSERT_TRUE(cpu->Build(sample, 3).ok());
  ASSERT_TRUE(gpu->Build(sample, 3).ok());
  for (Parameter* p : gpu->parameters()) {
    p->value = Gpu(p->value);
    p->grad = Gpu(p->grad);
  }
  Tensor y_cpu = *cpu->Forward(x, true);
  auto y_gpu = gpu->Forward(Gpu(x), true);
  ASSERT_TRUE(y_gpu.ok()) << y_gpu.status();
  ExpectNear(y_cpu, *y_gpu, tol, cpu->type() + " forward");
  Tensor g = testing::Random(y_cpu.shape(), 2);
  auto dx_cpu = cpu->Backward(g);
  auto dx_gpu = gpu->Backward(Gpu(g));
  ASSERT_TRUE(dx_gpu.ok()) << dx_gpu.status();
  if (input_grad) ExpectNear(*dx_cpu, *dx_gpu, tol, cpu->type() + " backward");
  for (size_t i = 0; i < cpu->parameters().size(); ++i) {
    ExpectNear(cpu->parameters()[i]->grad, gpu->parameters()[i]->grad, 10 * tol,
               cpu->parameters()[i]->name);
  }
  for (size_t i = 0; i < cpu->buffers().size(); ++i) {
    ExpectNear(cpu->buffers()[i]->value, gpu->buffers()[i]->value, 1e-5, cpu->buffers()[i]->name);
  }
  Tensor i_cpu = *cpu->Forward(x, false);
  auto i_gpu = gpu->Forward(Gpu(x), false);
  ASSERT_TRUE(i_gpu.ok()) << i_gpu.status();
  ExpectNear(i_cpu, *i_gpu, tol, cpu->type() + " inference");
}

// Runs `body` once per Conv2d CUDA backend this build has, then restores the default.
void ForEachConvBackend(const std::function<void()>& body) {
  std::vector<cuda::ConvBackend> backends = {cuda::ConvBackend::kIm2col};
  if (internal::ConvCudaHasCudnn()) backends.push_back(cuda::ConvBackend::kCudnn);
  for (cuda::ConvBackend b : backends) {
    SCOPED_TRACE(b == cuda::ConvBackend::kCudnn ? "cuDNN" : "im2col");
    internal::SetConvCudaBackendForTesting(b);
    body();
  }
  internal::SetConvCudaBackendForTesting(std::nullopt);
}

void CompareConvolutions(double tol) {
  CompareLayer(
      [] {
        return *Conv2d(16, 3, {1, 1, 1, true});
      },
      testing::Random({5, 3, 12, 11}, 1), true, tol);
  CompareLayer(
      [] {
        return *Conv2d(7, 3, {2, 2, 2, false});
      },
      testing::Random({3, 4, 13, 9}, 1), true, tol);
  CompareLayer([] { return *Conv2d(5, 1); }, testing::Random({2, 6, 4, 4}, 1), true, tol);
  // Rectangular, grouped, depthwise.
  CompareLayer(
      [] {
        return *Conv2d(6, {3, 5}, {1, 1, 1, true});
      },
      testing::Random({3, 2, 9, 11}, 1), true, tol);
  CompareLayer(
      [] {
        return *Conv2d(8, 3, {1, 1, 1, true, 2});
      },
      testing::Random({4, 6, 8, 8}, 1), true, tol);
  CompareLayer(
      [] {
        return *Conv2d(4, {1, 3}, {2, 0, 1, false, 4});
      },
      testing::Random({3, 4, 9, 10}, 1), true, tol);
  // Per-axis stride, padding and dilation (PyTorch's stride=(2, 1), padding=(1, 0), ...).
  CompareLayer(
      [] {
        Conv2dOptions o;
        o.stride_hw = HW{2, 1};
        o.padding_hw = HW{1, 2};
        o.dilation_hw = HW{1, 2};
        return *Conv2d(6, {3, 2}, o);
      },
      testing::Random({3, 4, 11, 9}, 1), true, tol);
}

TEST(ConvCudaTest, ConvolutionsMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  ForEachConvBackend([] { CompareConvolutions(1e-4); });
}

// An im2col matrix of 64 x 144 x 2304 = 21M entries, more than one 65535-block grid of 256
// threads covers: the im2col, col2im and bias kernels must finish in their grid-stride loops.
TEST(ConvCudaTest, ConvolutionLargerThanOneGridMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  ForEachConvBackend([] {
    CompareLayer(
        [] {
          return *Conv2d(16, 3, {1, 1, 1, true});
        },
        testing::Random({64, 16, 48, 48}, 1), true, 1e-4);
  });
}

// bf16 on both sides: the GPU multiplies the same bf16-rounded operands as the CPU emulation
// with float32 sums, so only the order of the sums differs.
TEST(ConvCudaTest, Bf16ConvolutionsMatchTheCpuEmulation) {
  SKIP_WITHOUT_GPU();
  internal::ScopedComputePrecision bf16(internal::Precision::kBFloat16);
  ForEachConvBackend([] { CompareConvolutions(1e-3); });
}

TEST(ConvCudaTest, PoolingMatchesItsCpuTwin) {
  SKIP_WITHOUT_GPU();
  CompareLayer([] { return *MaxPool2d(2); }, testing::Random({4, 3, 10, 9}, 1));
  CompareLayer([] { return *MaxPool2d(3, {2, 1}); }, testing::Random({2, 2, 9, 9}, 1));
  CompareLayer([] { return *AvgPool2d(2); }, testing::Random({4, 3, 10, 9}, 1));
  CompareLayer([] { return *AvgPool2d(3, {1, 1}); }, testing::Random({2, 2, 7, 8}, 1));
  // Rectangular windows with per-axis stride and padding.
  CompareLayer(
      [] {
        return *MaxPool2d({2, 3}, {0, 0, HW{2, 1}, HW{1, 0}});
      },
      testing::Random({2, 3, 9, 8}, 1));
  CompareLayer(
      [] {
        return *AvgPool2d({3, 2}, {0, 0, HW{1, 2}, HW{0, 1}});
      },
      testing::Random({2, 3, 7, 9}, 1));
}

TEST(ConvCudaTest, BatchNormMatchesItsCpuTwin) {
  SKIP_WITHOUT_GPU();
  CompareLayer([] { return *BatchNorm1d(); }, testing::Random({33, 7}, 1, 1, 3));
  CompareLayer([] { return *BatchNorm2d({0.3, 1e-3}); }, testing::Random({6, 5, 9, 8}, 1, -2, 4));
}

TEST(ConvCudaTest, EmbeddingMatchesItsCpuTwin) {
  SKIP_WITHOUT_GPU();
  std::vector<int64_t> ids;
  for (int i = 0; i < 60; ++i) ids.push_back((i * 7) % 13);
  Tensor x = *Tensor::FromVector(ids, {12, 5});
  CompareLayer([] { return *Embedding(13, 6); }, x, /*input_grad=*/false);
  auto layer = *Embedding(13, 6);
  layer->set_name("emb");
  ASSERT_TRUE(layer->Build({5}, 0).ok());
  layer->parameters()[0]->value = Gpu(layer->parameters()[0]->value);
  layer->parameters()[0]->grad = Gpu(layer->parameters()[0]->grad);
  ids[17] = 13;
  auto bad = layer->Forward(Gpu(*Tensor::FromVector(ids, {12, 5})), false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("index 13"), std::string::npos) << bad.status();
}

TEST(ConvCudaTest, ConvNetFitOnTheGpuMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Tensor x = testing::Random({128, 1, 10, 10}, 1);
  Tensor y = *Tensor::Empty({128}, DType::kInt64);
  for (int i = 0; i < 128; ++i) y.data<int64_t>()[i] = x.data<float>()[i * 100 + 55] > 0 ? 1 : 0;
  auto make = [] {
    auto m = std::make_unique<Sequential>(
        std::vector<std::shared_ptr<Layer>>{*Conv2d(8, 3, {1, 1, 1, true}), *BatchNorm2d(), ReLU(),
                                            *MaxPool2d(2), Flatten(), *Dense(2)});
    CompileOptions c;
    c.optimizer = *optim::MakeOptimizer("adam", {{"lr", 1e-2}});
    EXPECT_TRUE(m->Compile(c).ok());
    return m;
  };
  testing::ExpectGpuFitMatchesCpu(*make(), *make(), x, y, /*epochs=*/2);
}

}  // namespace
}  // namespace mlcore::nn

// The CUDA twins against the CPU ones: every layer's forward and backward, the fused loss, the
// optimisers, clipping, and a whole Fit. Skipped on machines without a usable GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/clip.h"
#include "nn/bf16.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda::IsAvailable()) GTEST_SKIP() << "no CUDA device: " << cuda::UnavailableReason()

Tensor Host(const Tensor& t) { return *t.To(Device::CPU()); }
Tensor Gpu(const Tensor& t) { return *t.To(Device::CUDA(0)); }

void ExpectNear(const Tensor& cpu, const Tensor& gpu, double tol, const std::string& what) {
  Tensor g = Host(gpu);
  ASSERT_EQ(cpu.shape(), g.shape()) << what;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const double a = cpu.data<float>()[i], b = g.data<float>()[i];
    ASSERT_NEAR(a, b, tol * (1.0 + std::abs(a))) << what << " at " << i;
  }
}

// Builds two copies of a layer with the same weights, one moved to the GPU, and compares
// forward output, input gradient and parameter gradients.
void CompareLayer(const std::function<std::shared_ptr<Layer>()>& make, Shape input,
                  double tol = 1e-5) {
  auto cpu = make(), gpu = make();
  cpu->set_name("l");
  gpu->set_name("l");
  Shape sample(input.begin() + 1, input.end());
  ASSERT_TRUE(cpu->Build(sample, 3).ok());
  ASSERT_TRUE(gpu->Build(sample, 3).ok());
  for (Parameter* p : gpu->parameters()) {
    p->value = Gpu(p->value);
    p->grad = Gpu(p->grad);
  }
  Tensor x = testing::Random(input, 1, -2, 2);
  Tensor y_cpu = *cpu->Forward(x, true);
  auto y_gpu = gpu->Forward(Gpu(x), true);
  ASSERT_TRUE(y_gpu.ok()) << y_gpu.status();
  ExpectNear(y_cpu, *y_gpu, tol, cpu->type() + " forward");
  Tensor g = testing::Random(y_cpu.shape(), 2);
  Tensor dx_cpu = *cpu->Backward(g);
  auto dx_gpu = gpu->Backward(Gpu(g));
  ASSERT_TRUE(dx_gpu.ok()) << dx_gpu.status();
  ExpectNear(dx_cpu, *dx_gpu, tol, cpu->type() + " backward");
  for (size_t i = 0; i < cpu->parameters().size(); ++i) {
    ExpectNear(cpu->parameters()[i]->grad, gpu->parameters()[i]->grad, 10 * tol,
               cpu->parameters()[i]->name);
  }
}

TEST(NnCudaTest, LayersMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  CompareLayer([] { return *Dense(37); }, {19, 23});
  CompareLayer([] { return *Dense(8, {.use_bias = false}); }, {5, 300});
  CompareLayer(ReLU, {7, 33});
  CompareLayer(GELU, {7, 33});
  CompareLayer(Tanh, {7, 33});
  CompareLayer(Sigmoid, {7, 33});
  CompareLayer(Flatten, {4, 3, 5});
  CompareLayer([] { return *Dropout(0.4, 9); }, {6, 50});
}

TEST(NnCudaTest, SoftmaxAndLayerNormMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  CompareLayer(Softmax, {9, 10});
  CompareLayer(Softmax, {3, 4, 77});  // rows longer than a warp, and a 3-D input
  CompareLayer([] { return *LayerNorm(); }, {11, 40});
  CompareLayer([] { return *LayerNorm(1e-3); }, {2, 5, 3});
}

TEST(NnCudaTest, LossesMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  Tensor logits = testing::Random({70, 45}, 1, -30, 30);
  Tensor labels = *Tensor::Empty({70}, DType::kInt64);
  for (int i = 0; i < 70; ++i) labels.data<int64_t>()[i] = (i * 7) % 45;
  for (const char* name : {"cross_entropy", "mse", "binary_cross_entropy"}) {
    auto loss = *MakeLoss(name);
    Tensor target =
        std::string(name) == "cross_entropy" ? labels : testing::Random({70, 45}, 2, 0, 1);
    Tensor g_cpu, g_gpu;
    double l_cpu = *loss->Compute(logits, target, &g_cpu);
    auto l_gpu = loss->Compute(Gpu(logits), target, &g_gpu);
    ASSERT_TRUE(l_gpu.ok()) << l_gpu.status();
    EXPECT_NEAR(l_cpu, *l_gpu, 1e-5 * (1 + std::abs(l_cpu))) << name;
    EXPECT_TRUE(g_gpu.device().is_cuda());
    ExpectNear(g_cpu, g_gpu, 1e-5, name);
  }
  labels.data<int64_t>()[3] = 45;
  Status s = (*MakeLoss("cross_entropy"))->Compute(Gpu(logits), labels, nullptr).status();
  EXPECT_NE(s.message().find("label 45 at index 3"), std::string::npos) << s;
}

TEST(NnCudaTest, OptimizersAndClippingMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  std::vector<std::shared_ptr<optim::Optimizer>> cpu = {
      *optim::Adam({.lr = 0.01, .weight_decay = 0.1}),
      *optim::AdamW({.lr = 0.01, .weight_decay = 0.1}),
      *optim::Sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01})};
  std::vector<std::shared_ptr<optim::Optimizer>> gpu = {
      *optim::Adam({.lr = 0.01, .weight_decay = 0.1}),
      *optim::AdamW({.lr = 0.01, .weight_decay = 0.1}),
      *optim::Sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01})};
  for (size_t k = 0; k < cpu.size(); ++k) {
    Parameter a{"w", testing::Random({1000}, 1), testing::Random({1000}, 2)};
    Parameter b{"w", Gpu(a.value), Gpu(a.grad)};
    Parameter* pa[] = {&a};
    Parameter* pb[] = {&b};
    for (int step = 0; step < 3; ++step) {
      ASSERT_TRUE(cpu[k]->Step(pa, 0.01).ok());
      ASSERT_TRUE(gpu[k]->Step(pb, 0.01).ok());
    }
    ExpectNear(a.value, b.value, 1e-6, cpu[k]->name());
  }
  Parameter a{"w", testing::Random({5000}, 1), testing::Random({5000}, 2, -5, 5)};
  Parameter b{"w", Gpu(a.value), Gpu(a.grad)};
  Parameter* pa[] = {&a};
  Parameter* pb[] = {&b};
  EXPECT_NEAR(*optim::ClipGradNorm(pa, 1.0), *optim::ClipGradNorm(pb, 1.0), 1e-6);
  ExpectNear(a.grad, b.grad, 1e-5, "clipped grads");
}

// cublasGemmEx on bf16 operands against the CPU emulation (the same rounded operands, float32
// sums in another order).
TEST(NnCudaTest, Bf16DenseMatchesTheCpuEmulation) {
  SKIP_WITHOUT_GPU();
  internal::ScopedComputePrecision bf16(internal::Precision::kBFloat16);
  CompareLayer([] { return *Dense(48); }, {33, 70}, 1e-3);
  CompareLayer([] { return *Dense(5, {.use_bias = false}); }, {7, 300}, 1e-3);
}

// A bf16 Fit on the GPU follows the CPU emulation's loss curve, and its weights stay float32.
TEST(NnCudaTest, Bf16FitOnTheGpuFollowsTheCpuEmulation) {
  SKIP_WITHOUT_GPU();
  Tensor x = testing::Random({512, 20}, 1);
  Tensor y = *Tensor::Empty({512}, DType::kInt64);
  for (int i = 0; i < 512; ++i) y.data<int64_t>()[i] = x.data<float>()[i * 20] > 0 ? 1 : 0;
  auto make = [] {
    auto m = std::make_unique<Sequential>(
        std::vector<std::shared_ptr<Layer>>{*Dense(64), ReLU(), *Dense(2)});
    CompileOptions c;
    c.optimizer = *optim::Adam({.lr = 1e-2});
    c.metrics = {"accuracy"};
    EXPECT_TRUE(m->Compile(c).ok());
    return m;
  };
  auto cpu = make(), gpu = make();
  FitOptions f;
  f.epochs = 3;
  f.batch_size = 64;
  f.precision = "bf16";
  auto h_cpu = cpu->Fit(x, y, f);
  ASSERT_TRUE(h_cpu.ok()) << h_cpu.status();
  f.device = "cuda";
  auto h_gpu = gpu->Fit(x, y, f);
  ASSERT_TRUE(h_gpu.ok()) << h_gpu.status();
  EXPECT_EQ(gpu->parameters()[0]->value.dtype(), DType::kFloat32);
  EXPECT_NEAR(h_cpu->metrics["loss"].back(), h_gpu->metrics["loss"].back(), 2e-2);
  EXPECT_GT(h_gpu->metrics["accuracy"].back(), 0.9);
}

// Concatenate along the last axis (with a model input joined directly) and along a middle axis,
// trained on both devices from the same initial weights.
TEST(NnCudaTest, GraphConcatenateFitOnTheGpuMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Tensor xa = testing::Random({96, 3, 4}, 1), xb = testing::Random({96, 2, 4}, 2);
  Tensor y = *Tensor::Empty({96}, DType::kInt64);
  for (int i = 0; i < 96; ++i) y.data<int64_t>()[i] = xa.data<float>()[i * 12] > 0 ? 1 : 0;
  auto make = [] {
    GraphBuilder b;
    NodeRef a = b.Input({3, 4}, "a"), c = b.Input({2, 4}, "c");
    NodeRef rows = b.Concatenate({a, c}, 0);  // [5, 4]
    NodeRef wide = b.Apply(*Dense(6), b.Apply(Flatten(), rows));
    NodeRef joined = b.Concatenate({wide, b.Apply(Flatten(), c)});  // [6 + 8]
    NodeRef out = b.Apply(*Dense(2), b.Apply(ReLU(), joined));
    auto model = b.Finish({a, c}, {out}, 7);
    EXPECT_TRUE(model.ok()) << model.status();
    CompileOptions o;
    o.optimizer = *optim::Adam({.lr = 1e-2});
    EXPECT_TRUE((*model)->Compile(o).ok());
    return std::move(*model);
  };
  auto cpu = make(), gpu = make();
  FitOptions f;
  f.epochs = 3;
  f.batch_size = 32;
  auto h_cpu = cpu->Fit(TensorList{xa, xb}, TensorList{y}, f);
  ASSERT_TRUE(h_cpu.ok()) << h_cpu.status();
  f.device = "cuda";
  auto h_gpu = gpu->Fit(TensorList{xa, xb}, TensorList{y}, f);
  ASSERT_TRUE(h_gpu.ok()) << h_gpu.status();
  EXPECT_NEAR(h_cpu->metrics["loss"].back(), h_gpu->metrics["loss"].back(), 1e-3);
  Tensor p_cpu = *cpu->Predict(TensorList{xa, xb}), p_gpu = *gpu->Predict(TensorList{xa, xb});
  for (int64_t i = 0; i < p_cpu.numel(); ++i) {
    ASSERT_NEAR(p_cpu.data<float>()[i], p_gpu.data<float>()[i], 1e-3);
  }
}

TEST(NnCudaTest, FitOnTheGpuMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Tensor x = testing::Random({256, 20}, 1);
  Tensor y = *Tensor::Empty({256}, DType::kInt64);
  for (int i = 0; i < 256; ++i) y.data<int64_t>()[i] = x.data<float>()[i * 20] > 0 ? 1 : 0;
  auto make = [] {
    auto m = std::make_unique<Sequential>(
        std::vector<std::shared_ptr<Layer>>{*Dense(64), GELU(), *Dense(2)});
    CompileOptions c;
    c.optimizer = *optim::Adam({.lr = 1e-2});
    c.metrics = {"accuracy"};
    c.clip_grad_norm = 5.0;
    EXPECT_TRUE(m->Compile(c).ok());
    return m;
  };
  auto cpu = make(), gpu = make();
  FitOptions f;
  f.epochs = 3;
  f.batch_size = 32;
  auto h_cpu = cpu->Fit(x, y, f);
  f.device = "cuda";
  auto h_gpu = gpu->Fit(x, y, f);
  ASSERT_TRUE(h_gpu.ok()) << h_gpu.status();
  EXPECT_TRUE(gpu->parameters()[0]->value.device().is_cuda());
  EXPECT_NEAR(h_cpu->metrics["loss"].back(), h_gpu->metrics["loss"].back(), 1e-3);
  Tensor p_cpu = *cpu->Predict(x), p_gpu = *gpu->Predict(x);
  EXPECT_TRUE(p_gpu.device().is_cpu());
  for (int64_t i = 0; i < p_cpu.numel(); ++i) {
    ASSERT_NEAR(p_cpu.data<float>()[i], p_gpu.data<float>()[i], 1e-3);
  }
  Sequential with_softmax({*Dense(4), *LayerNorm(), Softmax()});
  EXPECT_TRUE(with_softmax.To(Device::CUDA(0)).ok());
}

}  // namespace
}  // namespace mlcore::nn

// The CUDA twins against the CPU ones: every layer's forward and backward, the fused loss, the
// optimisers, clipping, and a whole Fit. Skipped on machines without a usable GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/cpu_math.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/half.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/clip.h"
#include "nn/activations.h"
#include "nn/bf16.h"
#include "nn/dense.h"
#include "nn/nn_cuda_test_util.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectNear;
using testing::Gpu;
using testing::Host;

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
  // More columns than one block of SumRows/BroadcastRows, and a non-square GEMM of odd sizes.
  CompareLayer([] { return *Dense(613); }, {3, 71});
  CompareLayer([] { return *Dropout(0.4, 9); }, {6, 50});
}

TEST(NnCudaTest, SoftmaxAndLayerNormMatchTheirCpuTwins) {
  SKIP_WITHOUT_GPU();
  CompareLayer(Softmax, {9, 10});
  CompareLayer(Softmax, {3, 4, 77});  // rows longer than a warp, and a 3-D input
  CompareLayer([] { return *LayerNorm(); }, {11, 40});
  CompareLayer([] { return *LayerNorm(1e-3); }, {2, 5, 3});
  // Rows wider than a block (the parameter-gradient kernel) and narrower than a warp.
  CompareLayer([] { return *LayerNorm(); }, {3, 300});
  CompareLayer([] { return *LayerNorm(); }, {37, 5});
  CompareLayer(Softmax, {41, 3});
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

// These call the CUDA twins directly, which only a CUDA build links.
#if defined(MLCORE_WITH_CUDA)
// More elements than the 65535-block grid covers in one pass: the grid-stride loop must reach
// the tail. ReLU is exact, and its backward must block inf and NaN gradients as the CPU does.
TEST(NnCudaTest, ElementwiseKernelsCoverMoreThanOneGrid) {
  SKIP_WITHOUT_GPU();
  const int64_t n = int64_t{65535} * 256 + 333;
  Tensor x = testing::Random({n}, 4, -1, 1), dy = testing::Random({n}, 5, -1, 1);
  dy.data<float>()[n - 1] = std::numeric_limits<float>::infinity();
  x.data<float>()[n - 1] = -1.0f;
  dy.data<float>()[n - 2] = std::numeric_limits<float>::quiet_NaN();
  x.data<float>()[n - 2] = -0.5f;
  Tensor gx = Gpu(x), gdy = Gpu(dy);
  Tensor gy = *Tensor::Empty({n}, DType::kFloat32, Device::CUDA(0));
  Tensor gdx = *Tensor::Empty({n}, DType::kFloat32, Device::CUDA(0));
  ASSERT_TRUE(
      cuda::ActivationForward(0, cuda::Activation::kRelu, gx.data<float>(), gy.data<float>(), n)
          .ok());
  ASSERT_TRUE(cuda::ActivationBackward(0, cuda::Activation::kRelu, gx.data<float>(),
                                       gdy.data<float>(), gdx.data<float>(), n)
                  .ok());
  Tensor y = Host(gy), dx = Host(gdx);
  for (int64_t i = 0; i < n; ++i) {
    const float xi = x.data<float>()[i];
    ASSERT_EQ(y.data<float>()[i], xi < 0 ? 0.0f : xi) << i;
    const float want = xi > 0 ? dy.data<float>()[i] : 0.0f;
    ASSERT_EQ(std::memcmp(&dx.data<float>()[i], &want, sizeof want), 0) << i;
  }
  Parameter a{"w", x, dy}, b{"w", gx, gdy};
  a.grad.data<float>()[n - 1] = a.grad.data<float>()[n - 2] = 0.5f;
  b.grad = Gpu(a.grad);
  Parameter* pa[] = {&a};
  Parameter* pb[] = {&b};
  EXPECT_NEAR(*optim::ClipGradNorm(pa, 1.0), *optim::ClipGradNorm(pb, 1.0), 1e-9 * n);
}

// The bf16 conversion kernels agree with the CPU's FloatToBFloat16 bit for bit: ties to even
// both ways, the largest finite values (which round to inf), subnormals, signed zeros, infinities
// and NaNs with their payloads.
TEST(NnCudaTest, Bf16ConversionIsBitIdenticalToTheCpu) {
  SKIP_WITHOUT_GPU();
  std::vector<uint32_t> bits = {0x00000000u, 0x80000000u, 0x3f808000u, 0x3f818000u, 0x3f807fffu,
                                0x3f808001u, 0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u, 0x00000001u,
                                0x00008000u, 0x00018000u, 0x807fffffu, 0x7f800000u, 0xff800000u,
                                0x7fc00000u, 0xffc00001u, 0x7f800001u, 0x7fbfffffu};
  for (uint32_t i = 0; i < 5000; ++i) bits.push_back(i * 2654435761u);
  const int64_t n = static_cast<int64_t>(bits.size());
  Tensor x = *Tensor::Empty({n}, DType::kFloat32);
  std::memcpy(x.data(), bits.data(), sizeof(uint32_t) * n);
  Tensor gx = Gpu(x);
  Tensor g16 = *Tensor::Empty({n}, DType::kBFloat16, Device::CUDA(0));
  Tensor gr = *Tensor::Empty({n}, DType::kFloat32, Device::CUDA(0));
  ASSERT_TRUE(cuda::ToBf16(0, gx.data<float>(), static_cast<uint16_t*>(g16.data()), n).ok());
  ASSERT_TRUE(cuda::RoundToBf16(0, gx.data<float>(), gr.data<float>(), n).ok());
  Tensor h16 = Host(g16), hr = Host(gr);
  for (int64_t i = 0; i < n; ++i) {
    const float f = x.data<float>()[i];
    const uint16_t want = FloatToBFloat16(f).bits;
    ASSERT_EQ(static_cast<const uint16_t*>(h16.data())[i], want) << std::hex << bits[i];
    uint32_t got = 0;
    std::memcpy(&got, &hr.data<float>()[i], sizeof got);
    ASSERT_EQ(got, uint32_t{want} << 16) << std::hex << bits[i];
  }
}

// Every transpose combination of the row-major GEMM wrapper against a plain loop, on odd,
// non-square sizes, with and without accumulation, and k == 0 (C = 0, or C kept).
TEST(NnCudaTest, GemmHandlesEveryTransposeAndEmptyK) {
  SKIP_WITHOUT_GPU();
  const int64_t m = 37, n = 53, k = 19;
  Tensor a = testing::Random({m * k}, 1), b = testing::Random({k * n}, 2);
  Tensor c0 = testing::Random({m * n}, 3);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (bool acc : {false, true}) {
        Tensor gc = Gpu(c0);
        Tensor ga = Gpu(a), gb = Gpu(b);
        ASSERT_TRUE(cuda::Gemm(0, ta, tb, m, n, k, ga.data<float>(), gb.data<float>(),
                               gc.data<float>(), acc)
                        .ok());
        Tensor c = Host(gc);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double s = acc ? c0.data<float>()[i * n + j] : 0.0;
            for (int64_t p = 0; p < k; ++p) {
              const float av = ta ? a.data<float>()[p * m + i] : a.data<float>()[i * k + p];
              const float bv = tb ? b.data<float>()[j * k + p] : b.data<float>()[p * n + j];
              s += double(av) * bv;
            }
            ASSERT_NEAR(c.data<float>()[i * n + j], s, 1e-4)
                << "ta=" << ta << " tb=" << tb << " acc=" << acc << " at " << i << "," << j;
          }
        }
      }
    }
  }
  for (bool acc : {false, true}) {
    Tensor gc = Gpu(c0);
    ASSERT_TRUE(cuda::Gemm(0, false, false, m, n, 0, nullptr, nullptr, gc.data<float>(), acc).ok());
    Tensor c = Host(gc);
    for (int64_t i = 0; i < m * n; ++i) {
      ASSERT_EQ(c.data<float>()[i], acc ? c0.data<float>()[i] : 0.0f) << i;
    }
  }
}

// A weight converted once (the per-step copy Dense keeps) gives the same product as the GEMM
// converting it on each call, for both positions the weight takes (forward x W, backward dy W^T).
TEST(NnCudaTest, Bf16GemmWithAConvertedWeightMatchesTheUncachedOne) {
  SKIP_WITHOUT_GPU();
  const int64_t batch = 29, in = 300, out = 77;
  Tensor x = Gpu(testing::Random({batch, in}, 1)), w = Gpu(testing::Random({in, out}, 2));
  Tensor dy = Gpu(testing::Random({batch, out}, 3));
  Tensor w16 = *Tensor::Empty({in * out}, DType::kBFloat16, Device::CUDA(0));
  const uint16_t* bits = static_cast<const uint16_t*>(w16.data());
  ASSERT_TRUE(cuda::ToBf16(0, w.data<float>(), static_cast<uint16_t*>(w16.data()), in * out).ok());
  auto run = [&](bool cached, bool backward) {
    Tensor c = *Tensor::Empty({batch, backward ? in : out}, DType::kFloat32, Device::CUDA(0));
    const cuda::GemmOperand wop{w.data<float>(), cached ? bits : nullptr};
    Status s = backward ? cuda::GemmBf16(0, false, true, batch, in, out,
                                         {dy.data<float>(), nullptr}, wop, c.data<float>(), false)
                        : cuda::GemmBf16(0, false, false, batch, out, in,
                                         {x.data<float>(), nullptr}, wop, c.data<float>(), false);
    EXPECT_TRUE(s.ok()) << s;
    return c;
  };
  for (bool backward : {false, true}) {
    Tensor uncached = Host(run(false, backward));
    ExpectNear(uncached, run(true, backward), 1e-6, backward ? "dy W^T" : "x W");
  }
}

#endif  // MLCORE_WITH_CUDA

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
  ASSERT_NO_FATAL_FAILURE(testing::ExpectGpuFitMatchesCpu(*cpu, *gpu, x, y, /*epochs=*/3));
  EXPECT_TRUE(gpu->parameters()[0]->value.device().is_cuda());
  Sequential with_softmax({*Dense(4), *LayerNorm(), Softmax()});
  EXPECT_TRUE(with_softmax.To(Device::CUDA(0)).ok());
}

// The CPU emulation with the per-step weight copy (runs everywhere): a training forward and its
// backward give bit for bit what rounding the operands at each GEMM gives, and after an optimiser
// step the next training forward uses the new weights, not the copy of the old ones.
TEST(Bf16WeightCacheTest, DenseOnTheCpuIsTheUncachedEmulationAcrossSteps) {
  internal::ScopedComputePrecision bf16(internal::Precision::kBFloat16);
  auto layer = *Dense(23, {.use_bias = false});
  layer->set_name("d");
  ASSERT_TRUE(layer->Build({31}, 5).ok());
  Parameter* w = layer->parameters()[0];
  Tensor x = testing::Random({9, 31}, 6), dy = testing::Random({9, 23}, 7);
  auto sgd = *optim::Sgd({.lr = 0.5});
  Parameter* params[] = {w};
  auto rounded = [](const Tensor& t) {
    Tensor r = *t.Clone();
    internal::RoundToBf16(r.data<float>(), r.data<float>(), r.numel());
    return r;
  };
  auto identical = [](const Tensor& a, const Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
  };
  Tensor before;
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE(step);
    Tensor y = *layer->Forward(x, true);
    // An inference forward rounds per call and keeps no copy: the same bits.
    EXPECT_TRUE(identical(y, *layer->Forward(x, false)));
    if (step > 0) EXPECT_FALSE(identical(y, before)) << "the step's new weights were not used";
    before = *y.Clone();
    Tensor dx = *layer->Backward(dy);
    Tensor xr = rounded(x), wr = rounded(w->value), dyr = rounded(dy);
    Tensor want_dx = *Tensor::Empty({9, 31}, DType::kFloat32);
    cpu::MatMulNT(dyr.data<float>(), wr.data<float>(), want_dx.data<float>(), 9, 23, 31);
    EXPECT_TRUE(identical(dx, want_dx));
    Tensor want_dw = *Tensor::Empty({31, 23}, DType::kFloat32);
    cpu::MatMulTN(xr.data<float>(), dyr.data<float>(), want_dw.data<float>(), 9, 31, 23);
    EXPECT_TRUE(identical(w->grad, want_dw));
    ASSERT_TRUE(sgd->Step(params, 0.5).ok());
  }
  // A write outside a step (a checkpoint load, set_weights) is seen by the next training forward.
  Tensor fresh = testing::Random({31, 23}, 8);
  ASSERT_TRUE(w->value.CopyFrom(fresh).ok());
  Tensor y = *layer->Forward(x, true);
  Tensor want = *Tensor::Empty({9, 23}, DType::kFloat32);
  Tensor xr = rounded(x), wr = rounded(fresh);
  cpu::MatMul(xr.data<float>(), wr.data<float>(), want.data<float>(), 9, 31, 23, false);
  EXPECT_TRUE(identical(y, want));
  // A training forward whose step never finished (a skipped non-finite loss), then a write, then
  // an inference forward: the left-over copy must not be used.
  Tensor other = testing::Random({31, 23}, 9);
  ASSERT_TRUE(w->value.CopyFrom(other).ok());
  Tensor wr2 = rounded(other);
  cpu::MatMul(xr.data<float>(), wr2.data<float>(), want.data<float>(), 9, 31, 23, false);
  EXPECT_TRUE(identical(*layer->Forward(x, false), want));
}

// The same for Conv2d (grouped, padded, with a bias). The reference is a twin whose kernel holds
// the layer's weights already rounded to bf16: rounding is idempotent, so the twin computes what
// per-call rounding of the layer's current weights gives, copy or no copy. A stale copy (the
// weights before the optimiser step) or unrounded weights would differ from it.
TEST(Bf16WeightCacheTest, Conv2dOnTheCpuIsTheUncachedEmulationAcrossSteps) {
  internal::ScopedComputePrecision bf16(internal::Precision::kBFloat16);
  const Conv2dOptions options{
      .stride = 1, .padding = 1, .dilation = 1, .use_bias = true, .groups = 2};
  auto layer = *Conv2d(6, 3, options);
  auto twin = *Conv2d(6, 3, options);
  layer->set_name("c");
  twin->set_name("c");
  ASSERT_TRUE(layer->Build({4, 7, 6}, 5).ok());
  ASSERT_TRUE(twin->Build({4, 7, 6}, 5).ok());
  const Tensor x = testing::Random({3, 4, 7, 6}, 6), dy = testing::Random({3, 6, 7, 6}, 7);
  auto sgd = *optim::Sgd({.lr = 0.5});
  std::vector<Parameter*> params = layer->parameters();
  ASSERT_EQ(params.size(), 2u);  // kernel, bias
  auto identical = [](const Tensor& a, const Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
  };
  // The twin takes the layer's current weights, its kernel rounded.
  auto mirror = [&] {
    std::vector<Parameter*> to = twin->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_TRUE(to[i]->value.CopyFrom(params[i]->value).ok());
    }
    Tensor& k = to[0]->value;
    internal::RoundToBf16(k.data<float>(), k.data<float>(), k.numel());
  };
  Tensor before;
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE(step);
    mirror();
    Tensor y = *layer->Forward(x, true);
    EXPECT_TRUE(identical(y, *twin->Forward(x, true)));
    // An inference forward rounds per call and keeps no copy: the same bits.
    EXPECT_TRUE(identical(y, *layer->Forward(x, false)));
    if (step > 0) EXPECT_FALSE(identical(y, before)) << "the step's new weights were not used";
    before = *y.Clone();
    Tensor dx = *layer->Backward(dy);
    EXPECT_TRUE(identical(dx, *twin->Backward(dy)));
    EXPECT_TRUE(identical(params[0]->grad, twin->parameters()[0]->grad));
    EXPECT_TRUE(identical(params[1]->grad, twin->parameters()[1]->grad));
    ASSERT_TRUE(sgd->Step(params, 0.5).ok());
  }
  // A write outside a step (a checkpoint load, set_weights) into the very storage the last
  // step's copy was made from is seen by the next training forward.
  ASSERT_TRUE(layer->Forward(x, true).ok());
  ASSERT_TRUE(layer->Backward(dy).ok());
  ASSERT_TRUE(params[0]->value.CopyFrom(testing::Random(params[0]->value.shape(), 8)).ok());
  mirror();
  EXPECT_TRUE(identical(*layer->Forward(x, true), *twin->Forward(x, false)));
  // A training forward whose step never finished (a skipped non-finite loss), then a write, then
  // an inference forward: the left-over copy must not be used.
  ASSERT_TRUE(params[0]->value.CopyFrom(testing::Random(params[0]->value.shape(), 9)).ok());
  mirror();
  EXPECT_TRUE(identical(*layer->Forward(x, false), *twin->Forward(x, false)));
}

}  // namespace
}  // namespace mlcore::nn

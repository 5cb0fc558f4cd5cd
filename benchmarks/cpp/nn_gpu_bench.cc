// The training figures scripts/gpu-check.sh reports on a GPU: a 4096-wide MLP's training step
// (float32 and bf16), the fused Adam kernel's bandwidth next to a device-to-device copy of the
// same bytes, and GEMM throughput (float32 and bf16) through Dense. Every benchmark skips with a
// message on a machine without a usable GPU.
//
//   mlcore_nn_gpu_bench --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>

#include "../../src/nn/bf16.h"   // the compute-precision scope Fit sets, ToBf16
#include "../../src/nn/dense.h"  // GemmBf16 on operands converted beforehand
#include "mlcore/core/cuda.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"

namespace mlcore::nn {
namespace {

using internal::Precision;

bool SkipWithoutGpu(benchmark::State& state) {
  if (mlcore::cuda::IsAvailable()) return false;
  state.SkipWithError(("no CUDA device: " + mlcore::cuda::UnavailableReason()).c_str());
  return true;
}

Tensor Filled(const Shape& shape, Device device, uint32_t seed) {
  Tensor t = *Tensor::Empty(shape, DType::kFloat32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return *t.To(device);
}

Precision PrecisionArg(int64_t arg) { return arg ? Precision::kBFloat16 : Precision::kFloat32; }

// One Adam step of a 4096-4096-4096-4096-10 MLP on a batch of range(1) samples; range(0) is 0
// for float32, 1 for bf16.
void BM_CudaMlp4096TrainStep(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const int64_t batch = state.range(1);
  Sequential model({*Dense(4096), ReLU(), *Dense(4096), ReLU(), *Dense(4096), ReLU(), *Dense(10)});
  if (!model.set_precision(state.range(0) ? "bf16" : "float32").ok()) std::abort();
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 1e-4});
  if (!model.Compile(c).ok() || !model.Build({4096}).ok()) std::abort();
  if (!model.To(Device::CUDA(0)).ok()) std::abort();
  Tensor x = Filled({batch, 4096}, Device::CUDA(0), 1);
  Tensor y = *Tensor::Zeros({batch}, DType::kInt64);
  for (int64_t i = 0; i < batch; ++i) y.data<int64_t>()[i] = i % 10;
  y = *y.To(Device::CUDA(0));
  for (int i = 0; i < 3; ++i) model.TrainStep(x, y).IgnoreError();  // warm-up, algorithm caches
  for (auto _ : state) {
    auto step = model.TrainStep(x, y);
    if (!step.ok()) {
      state.SkipWithError(std::string(step.status().message()).c_str());
      break;  // the loop must end after SkipWithError
    }
  }
  (void)mlcore::cuda::Synchronize(0);
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_CudaMlp4096TrainStep)
    ->ArgsProduct({{0, 1}, {256, 1024}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The fused Adam kernel over range(0) floats: it reads w, g, m, v and writes w, m, v, 28 bytes a
// float, the figure to hold against BM_CudaCopy's bandwidth.
void BM_CudaAdam(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const int64_t n = state.range(0);
  Parameter p;
  p.name = "w";
  p.value = Filled({n}, Device::CUDA(0), 1);
  p.grad = Filled({n}, Device::CUDA(0), 2);
  auto adam = *optim::Adam({.lr = 1e-4});
  Parameter* params[] = {&p};
  if (!adam->Step(params, 1e-4).ok()) std::abort();  // creates the moments
  constexpr int kSteps = 20;
  for (auto _ : state) {
    for (int i = 0; i < kSteps; ++i) adam->Step(params, 1e-4).IgnoreError();
    (void)mlcore::cuda::Synchronize(0);
  }
  state.SetBytesProcessed(state.iterations() * kSteps * n * 28);
}
BENCHMARK(BM_CudaAdam)->Arg(1 << 24)->Arg(1 << 26)->UseRealTime();

// A device-to-device copy of 4 * range(0) bytes (read + write counted, as for Adam).
void BM_CudaCopy(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const int64_t n = state.range(0);
  Tensor a = *Tensor::Zeros({n}, DType::kFloat32, Device::CUDA(0));
  Tensor b = *Tensor::Empty({n}, DType::kFloat32, Device::CUDA(0));
  constexpr int kCopies = 20;
  for (auto _ : state) {
    for (int i = 0; i < kCopies; ++i) b.CopyFrom(a).IgnoreError();
    (void)mlcore::cuda::Synchronize(0);
  }
  state.SetBytesProcessed(state.iterations() * kCopies * n * 8);
}
BENCHMARK(BM_CudaCopy)->Arg(1 << 24)->Arg(1 << 26)->UseRealTime();

// An n x n x n GEMM through a bias-free Dense layer's inference forward (one cuBLAS call; bf16
// adds the two operand conversions); range(0): 0 float32, 1 bf16. Reports TFLOP/s.
void BM_CudaGemm(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const int64_t n = state.range(1);
  internal::ScopedComputePrecision precision(PrecisionArg(state.range(0)));
  auto dense = *Dense(n, {.use_bias = false});
  dense->set_name("gemm");
  if (!dense->Build({n}, 0).ok()) std::abort();
  for (Parameter* p : dense->parameters()) p->value = *p->value.To(Device::CUDA(0));
  Tensor x = Filled({n, n}, Device::CUDA(0), 1);
  constexpr int kCalls = 10;
  for (auto _ : state) {
    for (int i = 0; i < kCalls; ++i) dense->Forward(x, false).IgnoreError();
    (void)mlcore::cuda::Synchronize(0);
  }
  state.counters["TFLOPs"] = benchmark::Counter(
      2.0 * n * n * n * kCalls * state.iterations() / 1e12, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CudaGemm)->ArgsProduct({{0, 1}, {2048, 4096, 8192}})->UseRealTime();

// The bf16 tensor-core GEMM alone: both n x n operands converted once before timing (as Dense's
// per-step weight copy is), so the figure is cublasGemmEx's against the device's peak; the gap
// to BM_CudaGemm/1 is what the per-call conversions cost. range(0) is 1 (bf16) for the report.
void BM_CudaGemmConverted(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const int64_t n = state.range(1);
  Tensor a = Filled({n, n}, Device::CUDA(0), 1), b = Filled({n, n}, Device::CUDA(0), 2);
  Tensor a16 = *Tensor::Empty({n * n}, DType::kBFloat16, Device::CUDA(0));
  Tensor b16 = *Tensor::Empty({n * n}, DType::kBFloat16, Device::CUDA(0));
  Tensor c = *Tensor::Empty({n, n}, DType::kFloat32, Device::CUDA(0));
  auto* a_bits = static_cast<uint16_t*>(a16.data());
  auto* b_bits = static_cast<uint16_t*>(b16.data());
  if (!cuda::ToBf16(0, a.data<float>(), a_bits, n * n).ok() ||
      !cuda::ToBf16(0, b.data<float>(), b_bits, n * n).ok()) {
    state.SkipWithError("bf16 conversion failed");
    return;
  }
  constexpr int kCalls = 10;
  for (auto _ : state) {
    for (int i = 0; i < kCalls; ++i) {
      cuda::GemmBf16(0, false, false, n, n, n, {a.data<float>(), a_bits}, {b.data<float>(), b_bits},
                     c.data<float>(), false)
          .IgnoreError();
    }
    (void)mlcore::cuda::Synchronize(0);
  }
  state.counters["TFLOPs"] = benchmark::Counter(
      2.0 * n * n * n * kCalls * state.iterations() / 1e12, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CudaGemmConverted)->ArgsProduct({{1}, {2048, 4096, 8192}})->UseRealTime();

}  // namespace
}  // namespace mlcore::nn

BENCHMARK_MAIN();

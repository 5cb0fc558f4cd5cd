// Training throughput of a digits-sized MLP (64-256-256-10, Adam, softmax cross-entropy) in
// samples per second, the figure benchmarks/python/bench_nn.py compares with PyTorch. Threads
// come from MLCORE_NUM_THREADS.
//
//   mlcore_nn_bench --benchmark_filter=TrainStep
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"

namespace mlcore::nn {
namespace {

Tensor RandomInputs(int64_t n, int64_t d) {
  auto t = Tensor::Empty({n, d}, DType::kFloat32);
  if (!t.ok()) std::abort();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < n * d; ++i) t->data<float>()[i] = dist(rng);
  return *t;
}

Tensor RandomLabels(int64_t n) {
  auto t = Tensor::Empty({n}, DType::kInt64);
  if (!t.ok()) std::abort();
  for (int64_t i = 0; i < n; ++i) t->data<int64_t>()[i] = i % 10;
  return *t;
}

std::unique_ptr<Sequential> Mlp() {
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(256), ReLU(), *Dense(256), ReLU(), *Dense(10)});
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 1e-3});
  if (!model->Compile(c).ok() || !model->Build({64}).ok()) std::abort();
  return model;
}

void BM_TrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  auto model = Mlp();
  Tensor x = RandomInputs(batch, 64), y = RandomLabels(batch);
  for (auto _ : state) {
    auto r = model->TrainStep(x, y);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_TrainStep)->Arg(64)->Arg(256)->UseRealTime();

void BM_Predict(benchmark::State& state) {
  const int64_t batch = state.range(0);
  auto model = Mlp();
  Tensor x = RandomInputs(batch, 64);
  for (auto _ : state) benchmark::DoNotOptimize(model->Predict(x, batch));
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_Predict)->Arg(64)->Arg(256)->UseRealTime();

void BM_FitEpochDigits(benchmark::State& state) {
  // One epoch over 1797 samples (the digits set size), including shuffling and gathering.
  const int64_t batch = state.range(0);
  auto model = Mlp();
  Tensor x = RandomInputs(1797, 64), y = RandomLabels(1797);
  FitOptions f;
  f.batch_size = batch;
  for (auto _ : state) {
    if (!model->Fit(x, y, f).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * 1797);
}
BENCHMARK(BM_FitEpochDigits)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace mlcore::nn

BENCHMARK_MAIN();

// Speed of the HPO core: the time one ask takes (sampling every parameter of a 5-D space) with
// N finished trials in the study, per sampler; and writing trials with intermediate reports
// into the SQLite store. benchmarks/python/bench_hpo.py runs Optuna on the same workloads.
//
//   mlcore_hpo_bench --benchmark_filter=Ask
//   mlcore_hpo_bench --benchmark_filter=GpAsk/300
//   mlcore_hpo_bench --benchmark_filter=Sqlite
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

constexpr int kDims = 5;

std::unique_ptr<Study> StudyWithTrials(const std::string& sampler, bool multivariate, int n) {
  StudyOptions o;
  o.sampler = sampler;
  o.sampler_options.seed = 0;
  o.sampler_options.multivariate = multivariate;
  auto study = Study::Create(o);
  if (!study.ok()) std::abort();
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(-5, 5);
  Distribution d = *Distribution::Float(-5, 5);
  for (int i = 0; i < n; ++i) {
    FrozenTrial t;
    t.state = TrialState::kComplete;
    t.has_value = true;
    t.value = 0;
    for (int k = 0; k < kDims; ++k) {
      double x = u(rng);
      std::string name = "x" + std::to_string(k);
      t.params[name] = x;
      t.distributions.emplace(name, d);
      t.value += x * x;
    }
    if (!(*study)->AddTrial(t).ok()) std::abort();
  }
  return *std::move(study);
}

// One iteration: ask, suggest the 5 parameters, tell a value (so the study grows by one trial
// per iteration, as in a real loop).
void AskLoop(benchmark::State& state, const std::string& sampler, bool multivariate) {
  auto study = StudyWithTrials(sampler, multivariate, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto trial = *study->Ask();
    double v = 0;
    for (int k = 0; k < kDims; ++k) {
      double x = *trial->SuggestFloat("x" + std::to_string(k), -5, 5);
      v += x * x;
    }
    if (!study->Tell(*trial, v).ok()) std::abort();
  }
  state.SetLabel(sampler + (multivariate ? " multivariate" : ""));
}

void BM_TpeAsk(benchmark::State& s) { AskLoop(s, "tpe", false); }
void BM_TpeMultivariateAsk(benchmark::State& s) { AskLoop(s, "tpe", true); }
void BM_RandomAsk(benchmark::State& s) { AskLoop(s, "random", false); }
BENCHMARK(BM_TpeAsk)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TpeMultivariateAsk)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RandomAsk)->Arg(1000)->Unit(benchmark::kMicrosecond);

// The model-based samplers; GP's target is 50 ms per ask with 300 finished trials.
void BM_GpAsk(benchmark::State& s) { AskLoop(s, "gp", false); }
void BM_CmaEsAsk(benchmark::State& s) { AskLoop(s, "cmaes", false); }
void BM_SobolAsk(benchmark::State& s) { AskLoop(s, "sobol", false); }
BENCHMARK(BM_GpAsk)->Arg(100)->Arg(300)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CmaEsAsk)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SobolAsk)->Arg(1000)->Unit(benchmark::kMicrosecond);

// 10,000 trials with 10 intermediate reports each, written through the Study API (ask, suggest
// one parameter, 10 reports, tell) into a fresh SQLite store.
void BM_SqliteTrialsWithReports(benchmark::State& state) {
  const int n_trials = static_cast<int>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    std::string dir = std::filesystem::temp_directory_path() / "mlcore_hpo_bench_XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) std::abort();
    StudyOptions o;
    o.name = "bench";
    o.sampler = "random";
    o.storage = dir + "/hpo.db";
    auto study = *Study::Create(o);
    state.ResumeTiming();
    for (int i = 0; i < n_trials; ++i) {
      auto trial = *study->Ask();
      double x = *trial->SuggestFloat("x", 0, 1);
      for (int step = 0; step < 10; ++step) {
        if (!trial->Report(x / (step + 1), step).ok()) std::abort();
      }
      if (!study->Tell(*trial, x).ok()) std::abort();
    }
    state.PauseTiming();
    study.reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.counters["trials"] = n_trials;
}
BENCHMARK(BM_SqliteTrialsWithReports)
    ->Arg(2000)
    ->Arg(10000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mlcore::hpo

BENCHMARK_MAIN();

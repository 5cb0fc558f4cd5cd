// Pipeline benchmarks: the DAG runner's (RunDag) own overhead per task on a 100,000-node random
// DAG of no-op tasks (target: at most 5 us per task), and the cost of a cache hit in a real run
// (target: at most 100 us per task), store writes included.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <random>

#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/dag.h"

namespace {

using namespace mlcore::pipeline;

std::vector<DagNode> RandomDag(int n, int max_fan_in, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<DagNode> nodes(n);
  for (int i = 1; i < n; ++i) {
    int k = rng() % (max_fan_in + 1);
    for (int j = 0; j < k; ++j) {
      // Mostly recent upstream nodes, so the DAG is deep as well as wide.
      int back = 1 + rng() % std::min(i, 1000);
      nodes[i].upstream.push_back(i - back);
    }
  }
  return nodes;
}

// Microseconds per task: each timed iteration runs n tasks.
benchmark::Counter PerTask(int n) {
  return benchmark::Counter(
      static_cast<double>(n) * 1e-6,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_RunDagNoop(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int workers = static_cast<int>(state.range(1));
  auto nodes = RandomDag(n, 3, 42);
  DagCallbacks cb;
  cb.run = [](int32_t, const std::vector<int>&) { return NodeOutcome::kSucceeded; };
  for (auto _ : state) {
    auto stats = RunDag(nodes, cb, {.max_parallelism = workers});
    if (!stats.ok() || stats->succeeded != n) state.SkipWithError("run failed");
  }
  state.counters["us_per_task"] = PerTask(n);
}
BENCHMARK(BM_RunDagNoop)
    ->Args({100000, 1})
    ->Args({100000, 2})
    ->Args({100000, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// An in-process component that passes its int input `i` to its output `o`.
std::shared_ptr<Component> NoopComponent() {
  auto comp = std::make_shared<Component>();
  comp->name = "noop";
  comp->inputs = {{"i", ValueType::kInt}};
  comp->outputs = {{"o", ValueType::kInt}};
  comp->code_version = "1";
  comp->fn = [](TaskContext& ctx) {
    ctx.output_params["o"] = ctx.params["i"];
    return absl::OkStatus();
  };
  return comp;
}

// Times runs of `p` (n tasks) by a client over a fresh temporary home (named after the
// mkdtemp template `home_name`, removed afterwards); with `warm_up`, one untimed run first.
void TimeRuns(benchmark::State& state, const char* home_name, const Pipeline& p, int n,
              const RunOptions& o, bool warm_up) {
  std::string home = std::filesystem::temp_directory_path() / home_name;
  if (::mkdtemp(home.data()) == nullptr) return state.SkipWithError("mkdtemp");
  auto client = Client::Open({.home = home, .sync_artifacts = false});
  if (!client.ok()) return state.SkipWithError("open");
  if (warm_up && !(*client)->Run(p, o).ok()) return state.SkipWithError("warm-up run");
  for (auto _ : state) {
    auto run = (*client)->Run(p, o);
    if (!run.ok() || run->state != "succeeded") state.SkipWithError("run failed");
  }
  state.counters["us_per_task"] = PerTask(n);
  client->reset();
  std::filesystem::remove_all(home);
}

void BM_CacheHitPerTask(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto comp = NoopComponent();
  auto p = Pipeline::Create("cached");
  for (int i = 0; i < n; ++i) {
    (void)p->AddTask("t" + std::to_string(i), comp, {{"i", InputBinding::Constant(i)}});
  }
  RunOptions o;
  o.max_parallelism = 1;
  TimeRuns(state, "mlcore_bench_cache_XXXXXX", *p, n, o, /*warm_up=*/true);
}
BENCHMARK(BM_CacheHitPerTask)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The executor's own cost per in-process task (inputs, records, outputs; caching off): the
// floor under the Python callables benchmark in benchmarks/python/bench_pipeline.py.
void BM_ExecutorNoopCallables(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto comp = NoopComponent();
  auto p = Pipeline::Create("noop-callables");
  std::mt19937 rng(1);
  for (int i = 0; i < n; ++i) {
    (void)p->AddTask("t" + std::to_string(i), comp, {{"i", InputBinding::Constant(i)}});
    for (int k = 0, edges = i ? static_cast<int>(rng() % 3) : 0; k < edges; ++k) {
      (void)p->After("t" + std::to_string(i),
                     "t" + std::to_string(i - 1 - rng() % std::min(i, 50)));
    }
  }
  RunOptions o;
  o.max_parallelism = static_cast<int>(state.range(1));
  o.enable_caching = false;
  TimeRuns(state, "mlcore_bench_exec_XXXXXX", *p, n, o, /*warm_up=*/false);
}
BENCHMARK(BM_ExecutorNoopCallables)->Args({20000, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// Throughput of the elementwise ops on float32, CPU and (when a device answers) CUDA. Every
// benchmark reports bytes_per_second as the bytes an op must move (read + written), so the
// figures compare directly with the machine's memory bandwidth; BM_CudaCopy, a device-to-device
// copy, is that reference on the GPU.
//
//   mlcore_ops_bench --benchmark_filter=Cpu
//   mlcore_ops_bench --benchmark_filter=Cuda --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "mlcore/core/cuda.h"
#include "mlcore/core/tensor.h"
#include "mlcore/ops/elementwise.h"

namespace mlcore::ops {
namespace {

// GPU launches are asynchronous: each timed iteration queues this many ops and then waits, so
// that the wait's fixed cost is spread and the figure is the kernels' own.
constexpr int kGpuBatch = 8;

Tensor MakeFilled(int64_t n, DType dtype, Device device, double value) {
  auto t = Tensor::Empty({n}, dtype, device);
  if (!t.ok() || !Fill(*t, value).ok()) std::abort();
  return *std::move(t);
}

// Runs `op` under the timer and reports bytes/s for `bytes_per_op`.
void Run(benchmark::State& state, Device device, int64_t bytes_per_op,
         const std::function<Status()>& op) {
  const int per_iteration = device.is_cuda() ? kGpuBatch : 1;
  for (auto _ : state) {
    for (int i = 0; i < per_iteration; ++i) {
      const Status st = op();
      if (!st.ok()) {
        state.SkipWithError(std::string(st.message()).c_str());
        return;
      }
    }
    if (device.is_cuda()) {
      const Status st = cuda::Synchronize(device.index);
      if (!st.ok()) {
        state.SkipWithError(std::string(st.message()).c_str());
        return;
      }
    }
  }
  state.SetBytesProcessed(state.iterations() * per_iteration * bytes_per_op);
  state.SetItemsProcessed(state.iterations() * per_iteration * state.range(0));
}

Device DeviceOf(bool gpu) { return gpu ? Device::CUDA(0) : Device::CPU(); }

// A two-input op into a preallocated output (AddInto, MulInto): reads 2 and writes 1 float.
template <Status (*kOp)(const Tensor&, const Tensor&, Tensor&)>
void BM_BinaryInto(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  const Tensor a = MakeFilled(n, DType::kFloat32, d, 1.0);
  const Tensor b = MakeFilled(n, DType::kFloat32, d, 2.0);
  Tensor out = MakeFilled(n, DType::kFloat32, d, 0.0);
  Run(state, d, 3 * 4 * n, [&] { return kOp(a, b, out); });
}

// The allocating form: includes taking the output from the allocator each time.
void BM_AddNew(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  const Tensor a = MakeFilled(n, DType::kFloat32, d, 1.0);
  const Tensor b = MakeFilled(n, DType::kFloat32, d, 2.0);
  Run(state, d, 3 * 4 * n, [&] { return Add(a, b).status(); });
}

void BM_Axpy(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  const Tensor x = MakeFilled(n, DType::kFloat32, d, 1.0);
  Tensor y = MakeFilled(n, DType::kFloat32, d, 0.0);
  Run(state, d, 3 * 4 * n, [&] { return Axpy(1e-3, x, y); });
}

void BM_Sum(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  const Tensor x = MakeFilled(n, DType::kFloat32, d, 1.0);
  Run(state, d, 4 * n, [&] { return Sum(x).status(); });
}

void BM_CastToFloat16(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  const Tensor x = MakeFilled(n, DType::kFloat32, d, 0.1);
  Tensor out = MakeFilled(n, DType::kFloat16, d, 0.0);
  Run(state, d, (4 + 2) * n, [&] { return CastInto(x, out); });
}

void BM_Fill(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  Tensor x = MakeFilled(n, DType::kFloat32, d, 0.0);
  Run(state, d, 4 * n, [&] { return Fill(x, 1.5); });
}

// The bandwidth reference: a plain copy moves 2 * 4 * n bytes, like a one-input op.
void BM_Copy(benchmark::State& state, bool gpu) {
  const int64_t n = state.range(0);
  const Device d = DeviceOf(gpu);
  const Tensor x = MakeFilled(n, DType::kFloat32, d, 1.0);
  Tensor y = MakeFilled(n, DType::kFloat32, d, 0.0);
  Run(state, d, 2 * 4 * n, [&] { return y.CopyFrom(x); });
}

void RegisterAll(const char* prefix, bool gpu) {
  struct Entry {
    const char* name;
    void (*fn)(benchmark::State&, bool);
  };
  const Entry entries[] = {{"Add", BM_BinaryInto<AddInto>},
                           {"AddNew", BM_AddNew},
                           {"Mul", BM_BinaryInto<MulInto>},
                           {"Axpy", BM_Axpy},
                           {"Sum", BM_Sum},
                           {"CastToFloat16", BM_CastToFloat16},
                           {"Fill", BM_Fill},
                           {"Copy", BM_Copy}};
  for (const Entry& e : entries) {
    benchmark::RegisterBenchmark((std::string("BM_") + prefix + e.name).c_str(), e.fn, gpu)
        ->RangeMultiplier(10)
        ->Range(100000, 10000000)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace
}  // namespace mlcore::ops

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  mlcore::ops::RegisterAll("Cpu", /*gpu=*/false);
  // The GPU variants exist only where a device answers, so a CPU machine lists no failures.
  if (mlcore::cuda::DeviceCount() > 0) mlcore::ops::RegisterAll("Cuda", /*gpu=*/true);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

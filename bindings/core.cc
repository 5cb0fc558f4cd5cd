// Build information, CUDA device queries, allocator statistics, logging and the thread pool.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "mlcore/core/allocator.h"
#include "mlcore/core/build_info.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/logging.h"
#include "mlcore/core/thread_pool.h"

namespace mlcore::python {
namespace {

py::dict BuildInfoDict() {
  BuildInfo info = GetBuildInfo();
  py::dict d;
  d["version"] = info.version;
  d["compiler"] = info.compiler;
  d["build_type"] = info.build_type;
  d["cuda_enabled"] = info.cuda_enabled;
  d["cuda_toolkit_version"] = info.cuda_toolkit_version;
  d["cuda_architectures"] = info.cuda_architectures;
  d["cuda_runtime_version"] = info.cuda_runtime_version;
  d["cuda_driver_version"] = info.cuda_driver_version;
  d["cublas_version"] = info.cublas_version;
  d["cudnn_version"] = info.cudnn_version;
  d["nccl_version"] = info.nccl_version;
  d["cuda_device_count"] = info.cuda_device_count;
  d["cuda_unavailable_reason"] = info.cuda_unavailable_reason;
  d["num_threads"] = ThreadPool::Default().num_threads();
  return d;
}

py::dict StatsDict(const AllocatorStats& s) {
  py::dict d;
  d["allocated_bytes"] = s.allocated_bytes;
  d["peak_allocated_bytes"] = s.peak_allocated_bytes;
  d["cached_bytes"] = s.cached_bytes;
  d["num_allocations"] = s.num_allocations;
  d["num_cache_hits"] = s.num_cache_hits;
  d["num_device_mallocs"] = s.num_device_mallocs;
  return d;
}

}  // namespace

void BindCore(py::module_& m) {
  m.def("build_info", &BuildInfoDict,
        "How mlcore was built (version, compiler, CUDA and library versions) and why no GPU is "
        "used when none is.");
  m.def(
      "allocator_stats",
      [](const std::string& device) {
        return StatsDict(Unwrap(GetAllocatorStats(Unwrap(ParseDevice(device)))));
      },
      py::arg("device") = "cpu");
  m.def(
      "num_threads", [] { return ThreadPool::Default().num_threads(); },
      "Threads in the shared CPU pool (MLCORE_NUM_THREADS, else one per hardware thread).");

  m.def(
      "set_log_level", [](const std::string& level) { SetLogLevel(Unwrap(ParseLogLevel(level))); },
      py::arg("level"), "debug, info, warning, error or off (MLCORE_LOG_LEVEL sets the start).");
  m.def("get_log_level", [] { return std::string(LogLevelName(GetLogLevel())); });

  auto c = m.def_submodule("cuda", "CUDA devices as this build and machine see them");
  c.def("is_available", &cuda::IsAvailable);
  c.def("device_count", &cuda::DeviceCount);
  c.def("unavailable_reason", &cuda::UnavailableReason);
  c.def(
      "device_properties",
      [](int index) {
        cuda::DeviceProperties p = Unwrap(cuda::GetDeviceProperties(index));
        py::dict d;
        d["index"] = p.index;
        d["name"] = p.name;
        d["compute_capability"] =
            py::make_tuple(p.compute_capability_major, p.compute_capability_minor);
        d["multiprocessor_count"] = p.multiprocessor_count;
        d["total_memory"] = p.total_memory;
        d["free_memory"] = p.free_memory;
        return d;
      },
      py::arg("index") = 0);
  c.def(
      "synchronize",
      [](int index) {
        py::gil_scoped_release release;
        ThrowIfError(cuda::Synchronize(index));
      },
      py::arg("index") = 0);
  c.def("empty_cache", &EmptyCudaCache, "Returns cached device blocks to the driver.");
}

}  // namespace mlcore::python

// mlcore._mlcore.dist, the training side: the job environment (DistEnv), the launcher and the
// distributed sampler. Options structs are bound field by field so each default is written once,
// in C++; the launch runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "bindings.h"
#include "convert.h"
#include "mlcore/dist/env.h"
#include "mlcore/dist/launch.h"
#include "mlcore/dist/sampler.h"

namespace mlcore::python {
namespace {

using namespace mlcore::dist;  // NOLINT: a binding file for this one namespace

// Set from Python (Ctrl-C in `mlcore launch`) while the launch runs without the GIL.
struct CancelFlag {
  std::atomic<bool> flag{false};
};

py::array_t<int64_t> ToArray(const std::vector<int64_t>& v) {
  return py::array_t<int64_t>(static_cast<py::ssize_t>(v.size()), v.data());
}

void BindEnv(py::module_& m) {
  py::class_<DistEnv>(m, "DistEnv", "A process's place in a distributed job (see dist/env.h).")
      .def(py::init<>())
      .def_readonly("source", &DistEnv::source)
      .def_readonly("rank", &DistEnv::rank)
      .def_readonly("world_size", &DistEnv::world_size)
      .def_readonly("local_rank", &DistEnv::local_rank)
      .def_readonly("local_world_size", &DistEnv::local_world_size)
      .def_readonly("node_rank", &DistEnv::node_rank)
      .def_readonly("num_nodes", &DistEnv::num_nodes)
      .def_readonly("master_addr", &DistEnv::master_addr)
      .def_readonly("master_port", &DistEnv::master_port)
      .def_readonly("num_threads", &DistEnv::num_threads)
      .def_readonly("restart_count", &DistEnv::restart_count)
      .def_property_readonly("distributed", &DistEnv::distributed)
      .def_property_readonly("init_method", &DistEnv::init_method);
  m.def(
      "parse_env",
      [](std::optional<std::map<std::string, std::string>> vars, int cores) {
        EnvLookup lookup = ProcessEnv();
        if (vars) {
          lookup = [vars](std::string_view name) -> std::optional<std::string> {
            auto it = vars->find(std::string(name));
            if (it == vars->end()) return std::nullopt;
            return it->second;
          };
        }
        return Unwrap(ParseDistEnv(lookup, cores));
      },
      py::arg("env") = py::none(), py::arg("cores") = 0,
      "DistEnv from a dict of variables, or from this process's environment (None).");
  m.def("usable_cores", &UsableCores);
}

void BindSampler(py::module_& m) {
  py::class_<DistributedSamplerOptions>(m, "DistributedSamplerOptions")
      .def(py::init<>())
      .def_readwrite("num_samples", &DistributedSamplerOptions::num_samples)
      .def_readwrite("rank", &DistributedSamplerOptions::rank)
      .def_readwrite("world_size", &DistributedSamplerOptions::world_size)
      .def_readwrite("shuffle", &DistributedSamplerOptions::shuffle)
      .def_readwrite("seed", &DistributedSamplerOptions::seed)
      .def_readwrite("drop_last", &DistributedSamplerOptions::drop_last);
  py::class_<DistributedSampler>(m, "DistributedSampler")
      .def(py::init(
          [](const DistributedSamplerOptions& o) { return Unwrap(DistributedSampler::Create(o)); }))
      .def("indices",
           [](const DistributedSampler& s, int64_t epoch) { return ToArray(s.Indices(epoch)); })
      .def_property_readonly("shard_size", &DistributedSampler::shard_size)
      .def_property_readonly("total_size", &DistributedSampler::total_size);
  m.def("epoch_order", [](int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
    return ToArray(EpochOrder(n, shuffle, seed, epoch));
  });
  m.def(
      "shard_dataset",
      [](std::shared_ptr<nn::Dataset> data, int rank, int world_size, bool drop_last) {
        return Unwrap(ShardDataset(std::move(data), rank, world_size, drop_last));
      },
      py::arg("data"), py::arg("rank"), py::arg("world_size"), py::arg("drop_last") = false);
}

void BindLaunch(py::module_& m) {
  py::class_<CancelFlag, std::shared_ptr<CancelFlag>>(
      m, "CancelFlag", "Stops a running launch when set (any thread).")
      .def(py::init<>())
      .def("set", [](CancelFlag& c) { c.flag = true; })
      .def_property_readonly("is_set", [](const CancelFlag& c) { return c.flag.load(); });
  py::class_<LaunchOptions>(m, "LaunchOptions")
      .def(py::init<>())
      .def_readwrite("command", &LaunchOptions::command)
      .def_readwrite("nproc_per_node", &LaunchOptions::nproc_per_node)
      .def_readwrite("nnodes", &LaunchOptions::nnodes)
      .def_readwrite("node_rank", &LaunchOptions::node_rank)
      .def_readwrite("master_addr", &LaunchOptions::master_addr)
      .def_readwrite("master_port", &LaunchOptions::master_port)
      .def_readwrite("max_restarts", &LaunchOptions::max_restarts)
      .def_property(
          "stop_grace", [](const LaunchOptions& o) { return absl::ToDoubleSeconds(o.stop_grace); },
          [](LaunchOptions& o, double s) { o.stop_grace = absl::Seconds(s); })
      .def_readwrite("threads_per_worker", &LaunchOptions::threads_per_worker)
      .def_readwrite("env", &LaunchOptions::env)
      .def_readwrite("min_nodes", &LaunchOptions::min_nodes)
      .def_readwrite("rdzv_endpoint", &LaunchOptions::rdzv_endpoint)
      .def_readwrite("rdzv_id", &LaunchOptions::rdzv_id)
      .def_readwrite("local_addr", &LaunchOptions::local_addr)
      .def_property(
          "rdzv_last_call",
          [](const LaunchOptions& o) { return absl::ToDoubleSeconds(o.rdzv_last_call); },
          [](LaunchOptions& o, double s) { o.rdzv_last_call = absl::Seconds(s); })
      .def_property(
          "rdzv_timeout",
          [](const LaunchOptions& o) { return absl::ToDoubleSeconds(o.rdzv_timeout); },
          [](LaunchOptions& o, double s) { o.rdzv_timeout = absl::Seconds(s); });
  py::class_<LaunchResult>(m, "LaunchResult")
      .def_readonly("ok", &LaunchResult::ok)
      .def_readonly("cancelled", &LaunchResult::cancelled)
      .def_readonly("restarts", &LaunchResult::restarts)
      .def_readonly("rounds", &LaunchResult::rounds)
      .def_readonly("world_size", &LaunchResult::world_size)
      .def_readonly("master_port", &LaunchResult::master_port)
      .def_readonly("failed_rank", &LaunchResult::failed_rank)
      .def_property_readonly("exit_code", &LaunchResult::ExitCode)
      .def("describe", &LaunchResult::Describe);
  m.def(
      "launch",
      [](LaunchOptions options, std::shared_ptr<CancelFlag> cancel) {
        if (cancel) options.cancel_flag = &cancel->flag;
        return Released([&] { return Launch(options); });
      },
      py::arg("options"), py::arg("cancel") = nullptr);
}

void BindDistTraining(py::module_& m) {
  BindEnv(m);
  BindSampler(m);
  BindLaunch(m);
}

// After the communicator's binders (order 0), whose types these do not name.
BinderRegistration reg("dist", "", &BindDistTraining, 10);

}  // namespace
}  // namespace mlcore::python

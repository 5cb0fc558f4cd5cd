// mlcore._mlcore.dist: stores, the communicator and its Work handles. Tensors arrive as
// mlcore.Tensor views (python/mlcore/dist/_tensors.py turns numpy arrays and DLPack tensors into
// zero-copy views first); every call that may wait on another rank releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "mlcore/dist/communicator.h"
#include "mlcore/dist/store.h"

namespace mlcore::python {
namespace {

using dist::Communicator;
using dist::Store;
using dist::Work;

// None: the communicator's (or the store's) default.
absl::Duration TimeoutArg(std::optional<double> seconds) {
  return seconds ? absl::Seconds(*seconds) : dist::kUseDefaultTimeout;
}

absl::Duration StoreTimeout(Store& store, std::optional<double> seconds) {
  return seconds ? absl::Seconds(*seconds) : store.timeout();
}

dist::ReduceOp OpArg(const std::string& op) { return Unwrap(dist::ParseReduceOp(op)); }

void BindStores(py::module_& m) {
  py::class_<Store, std::shared_ptr<Store>>(m, "Store")
      .def(
          "set",
          [](Store& s, const std::string& key, const py::bytes& value) {
            std::string v = value;
            Released([&] { return s.Set(key, v); });
          },
          py::arg("key"), py::arg("value"))
      .def(
          "get",
          [](Store& s, const std::string& key, std::optional<double> timeout) {
            std::string v = Released([&] { return s.Get(key, StoreTimeout(s, timeout)); });
            return py::bytes(v);
          },
          py::arg("key"), py::arg("timeout") = py::none())
      .def(
          "wait",
          [](Store& s, const std::vector<std::string>& keys, std::optional<double> timeout) {
            Released([&] { return s.Wait(keys, StoreTimeout(s, timeout)); });
          },
          py::arg("keys"), py::arg("timeout") = py::none())
      .def(
          "add",
          [](Store& s, const std::string& key, int64_t delta) {
            return Released([&] { return s.Add(key, delta); });
          },
          py::arg("key"), py::arg("delta"))
      .def(
          "compare_set",
          [](Store& s, const std::string& key, const py::bytes& expected,
             const py::bytes& desired) {
            std::string e = expected, d = desired;
            return py::bytes(Released([&] { return s.CompareSet(key, e, d); }));
          },
          py::arg("key"), py::arg("expected"), py::arg("desired"))
      .def(
          "delete",
          [](Store& s, const std::string& key) { return Released([&] { return s.Delete(key); }); },
          py::arg("key"))
      .def(
          "check",
          [](Store& s, const std::vector<std::string>& keys) {
            return Released([&] { return s.Check(keys); });
          },
          py::arg("keys"))
      .def_property_readonly("timeout",
                             [](Store& s) { return absl::ToDoubleSeconds(s.timeout()); });

  py::class_<dist::TcpStore, Store, std::shared_ptr<dist::TcpStore>>(m, "TcpStore")
      .def(py::init([](const std::string& host, int port, bool is_server, double timeout,
                       const std::string& bind_address) {
             dist::TcpStoreOptions o;
             o.host = host;
             o.port = port;
             o.is_server = is_server;
             o.timeout = absl::Seconds(timeout);
             o.bind_address = bind_address;
             return Released([&] { return dist::TcpStore::Open(o); });
           }),
           py::arg("host") = "127.0.0.1", py::arg("port") = 0, py::arg("is_server") = false,
           py::arg("timeout") = absl::ToDoubleSeconds(dist::kDefaultTimeout),
           py::arg("bind_address") = "")
      .def_property_readonly("port", &dist::TcpStore::port);

  py::class_<dist::FileStore, Store, std::shared_ptr<dist::FileStore>>(m, "FileStore")
      .def(py::init([](const std::string& path, double timeout) {
             return Released([&] { return dist::FileStore::Open(path, absl::Seconds(timeout)); });
           }),
           py::arg("path"), py::arg("timeout") = absl::ToDoubleSeconds(dist::kDefaultTimeout));
}

void BindCommunicator(py::module_& m) {
  py::class_<Work, std::shared_ptr<Work>>(m, "Work")
      .def(
          "wait",
          [](Work& w, std::optional<double> timeout) {
            absl::Duration d = timeout ? absl::Seconds(*timeout) : absl::InfiniteDuration();
            Released([&] { return w.Wait(d); });
          },
          py::arg("timeout") = py::none())
      .def("is_completed", &Work::IsCompleted);

  using T = std::optional<double>;
  py::class_<Communicator, std::shared_ptr<Communicator>>(m, "Communicator")
      .def_property_readonly("rank", &Communicator::rank)
      .def_property_readonly("world_size", &Communicator::world_size)
      .def_property_readonly("backend", &Communicator::backend)
      .def_property_readonly("transport", &Communicator::transport)
      .def("all_reduce_async",
           [](Communicator& c, const Tensor& t, const std::string& op, T timeout) {
             return Released([&] { return c.AllReduceAsync(t, OpArg(op), TimeoutArg(timeout)); });
           })
      // The blocking forms that training loops call every step: issued as ones the caller waits
      // for, so the collective runs on this thread (no hand-off to the worker and back).
      .def("all_reduce",
           [](Communicator& c, const Tensor& t, const std::string& op, T timeout) {
             Released([&] { return c.AllReduce(t, OpArg(op), TimeoutArg(timeout)); });
           })
      .def("barrier", [](Communicator& c,
                         T timeout) { Released([&] { return c.Barrier(TimeoutArg(timeout)); }); })
      .def("broadcast_async",
           [](Communicator& c, const Tensor& t, int root, T timeout) {
             return Released([&] { return c.BroadcastAsync(t, root, TimeoutArg(timeout)); });
           })
      .def(
          "reduce_async",
          [](Communicator& c, const Tensor& t, int root, const std::string& op, T timeout) {
            return Released([&] { return c.ReduceAsync(t, root, OpArg(op), TimeoutArg(timeout)); });
          })
      .def("all_gather_async",
           [](Communicator& c, const Tensor& in, const Tensor& out, T timeout) {
             return Released([&] { return c.AllGatherAsync(in, out, TimeoutArg(timeout)); });
           })
      .def("reduce_scatter_async",
           [](Communicator& c, const Tensor& in, const Tensor& out, const std::string& op,
              T timeout) {
             return Released(
                 [&] { return c.ReduceScatterAsync(in, out, OpArg(op), TimeoutArg(timeout)); });
           })
      .def("all_to_all_async",
           [](Communicator& c, const Tensor& in, const Tensor& out, T timeout) {
             return Released([&] { return c.AllToAllAsync(in, out, TimeoutArg(timeout)); });
           })
      .def("barrier_async",
           [](Communicator& c, T timeout) {
             return Released([&] { return c.BarrierAsync(TimeoutArg(timeout)); });
           })
      .def("send_async",
           [](Communicator& c, const Tensor& t, int dst, int tag, T timeout) {
             return Released([&] { return c.SendAsync(t, dst, tag, TimeoutArg(timeout)); });
           })
      .def("recv_async", [](Communicator& c, const Tensor& t, int src, int tag, T timeout) {
        return Released([&] { return c.RecvAsync(t, src, tag, TimeoutArg(timeout)); });
      });
}

// init_process_group and the backends by name.
void BindProcessGroup(py::module_& m) {
  m.def(
      "init_process_group",
      [](const std::string& backend, const std::string& init_method, int rank, int world_size,
         double timeout, bool same_host_shm, const std::string& host, const std::string& host_id) {
        dist::InitOptions o;
        o.backend = backend;
        o.init_method = init_method;
        o.rank = rank;
        o.world_size = world_size;
        o.timeout = absl::Seconds(timeout);
        o.communicator.same_host_shm = same_host_shm;
        o.communicator.host = host;
        o.communicator.host_id = host_id;
        std::unique_ptr<Communicator> comm = Released([&] { return dist::InitProcessGroup(o); });
        // Destroying a communicator joins its worker, which may drop the last reference to a
        // numpy array (taking the GIL): the GIL is released around the delete.
        return std::shared_ptr<Communicator>(comm.release(), [](Communicator* c) {
          py::gil_scoped_release release;
          delete c;
        });
      },
      py::arg("backend"), py::arg("init_method"), py::arg("rank"), py::arg("world_size"),
      py::arg("timeout"), py::arg("same_host_shm"), py::arg("host"), py::arg("host_id"));
  m.def("auto_backend", &dist::AutoBackend);
  m.def("backends", [] { return dist::CommunicatorRegistry().Names(); });
}

void BindDist(py::module_& m) {
  BindStores(m);
  BindCommunicator(m);
  BindProcessGroup(m);
}

BinderRegistration reg("dist", "Distributed training: stores and communicators", &BindDist);

}  // namespace
}  // namespace mlcore::python

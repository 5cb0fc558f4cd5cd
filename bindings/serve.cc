// mlcore._mlcore.serve: the inference server. Tensors cross as (name, datatype, shape, bytes)
// tuples that python/mlcore/serve turns into numpy arrays; configs cross as JSON text. The GIL
// is released around every call that waits (start, stop, load, infer) and taken only around the
// Python model's own code.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "mlcore/registry/serve_resolver.h"
#include "mlcore/serve/server.h"
#include "mlcore/ui/dashboard.h"

namespace mlcore::python {
namespace {

using serve::InferTensor;
using PyTensor = std::tuple<std::string, std::string, std::vector<int64_t>, py::bytes>;
using RawTensor = std::tuple<std::string, std::string, std::vector<int64_t>, std::string>;

InferTensor FromRaw(const RawTensor& raw) {
  InferTensor t;
  t.name = std::get<0>(raw);
  t.datatype = Unwrap(serve::ParseDataType(std::get<1>(raw)));
  t.shape = std::get<2>(raw);
  t.data = std::get<3>(raw);
  return t;
}

py::list ToPy(const std::vector<InferTensor>& tensors) {
  py::list out;
  for (const InferTensor& t : tensors) {
    out.append(py::make_tuple(t.name, serve::DataTypeName(t.datatype), t.shape, py::bytes(t.data)));
  }
  return out;
}

std::vector<serve::TensorInfo> Infos(
    const std::vector<std::tuple<std::string, std::string, std::vector<int64_t>>>& specs) {
  std::vector<serve::TensorInfo> out;
  for (const auto& [name, datatype, shape] : specs) {
    out.push_back({name, Unwrap(serve::ParseDataType(datatype)), shape});
  }
  return out;
}

serve::ServerOptions Options(const std::string& host, int http_port, int grpc_port,
                             int http_threads, const std::string& auth_token,
                             const std::string& model_repository, bool load_all,
                             int64_t poll_interval_ms, int64_t max_request_bytes,
                             int64_t header_timeout_ms, int64_t body_timeout_ms,
                             int64_t drain_timeout_ms, const std::string& record_home,
                             const std::string& ui_home) {
  serve::ServerOptions o;
  o.host = host;
  o.http_port = http_port;
  o.grpc_port = grpc_port;
  o.http_threads = http_threads;
  o.auth_token = auth_token;
  o.models.model_repository = model_repository;
  o.models.load_all = load_all;
  o.models.poll_interval_ms = poll_interval_ms;
  o.max_request_bytes = max_request_bytes;
  o.header_timeout_ms = header_timeout_ms;
  o.body_timeout_ms = body_timeout_ms;
  o.drain_timeout_ms = drain_timeout_ms;
  o.record_home = record_home;
  if (!ui_home.empty()) ThrowIfError(ui::MountDashboardOf(ui_home, o));
  return o;
}

// The Python callable of a served Python model, released with the GIL held whatever thread
// drops the last reference.
std::shared_ptr<py::object> Hold(py::object fn) {
  return std::shared_ptr<py::object>(new py::object(std::move(fn)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
}

using Specs = std::vector<std::tuple<std::string, std::string, std::vector<int64_t>>>;

// Serves a Python callable (an mlcore.serve.Model's _execute): it runs on the model's worker
// threads with the GIL taken around it only.
void AddFunctionModel(serve::Server& s, const std::string& name, const std::string& config_json,
                      const Specs& in, const Specs& out, py::object fn) {
  serve::ModelConfig config = Unwrap(serve::ModelConfig::FromJson(config_json));
  serve::Signature signature{Infos(in), Infos(out)};
  std::shared_ptr<py::object> held = Hold(std::move(fn));
  auto execute =
      [held](const std::vector<InferTensor>& inputs) -> StatusOr<std::vector<InferTensor>> {
    py::gil_scoped_acquire gil;
    try {
      auto result = (*held)(ToPy(inputs)).cast<std::vector<RawTensor>>();
      std::vector<InferTensor> outputs;
      for (const RawTensor& raw : result) outputs.push_back(FromRaw(raw));
      return outputs;
    } catch (py::error_already_set& e) {
      // A ValueError/TypeError from the model is the request's fault.
      bool bad_input = e.matches(PyExc_ValueError) || e.matches(PyExc_TypeError);
      std::string what = e.what();
      return bad_input ? absl::InvalidArgumentError(what) : absl::InternalError(what);
    } catch (const std::exception& e) {
      return absl::InternalError(e.what());
    }
  };
  serve::BackendFactory factory =
      [signature,
       execute](const serve::BackendContext&) -> StatusOr<std::unique_ptr<serve::Backend>> {
    return serve::MakeFunctionBackend(signature, execute, "python");
  };
  py::gil_scoped_release release;
  ThrowIfError(s.models().AddModel(name, config, factory));
}

py::tuple Metadata(serve::Server& s, const std::string& name, const std::string& version) {
  serve::ModelMetadata meta = Unwrap(s.models().Metadata(name, version));
  auto infos = [](const std::vector<serve::TensorInfo>& list) {
    py::list out;
    for (const auto& i : list) {
      out.append(py::make_tuple(i.name, serve::DataTypeName(i.datatype), i.shape));
    }
    return out;
  };
  return py::make_tuple(meta.name, meta.versions, meta.platform, infos(meta.inputs),
                        infos(meta.outputs));
}

// Server's model repository: add, load and unload models, infer, and what it holds.
void BindServerModels(py::class_<serve::Server>& cls) {
  using serve::Server;
  cls.def("add_model",
          [](Server& s, const std::string& name, const std::string& path,
             const std::string& config_json) {
            serve::ModelConfig config = Unwrap(serve::ModelConfig::FromJson(config_json));
            py::gil_scoped_release release;
            ThrowIfError(s.models().AddModel(name, path, config));
          })
      .def("add_registry_model",
           [](Server& s, const std::string& name, const std::string& reference,
              const std::string& home, const std::string& config_json) {
             serve::ModelConfig config = Unwrap(serve::ModelConfig::FromJson(config_json));
             py::gil_scoped_release release;
             auto resolver = Unwrap(registry::MakeServeResolver({.home = home}));
             ThrowIfError(s.AddRegistryModel(name, reference, config, resolver));
           })
      .def("add_function_model", &AddFunctionModel)
      .def("load_model",
           [](Server& s, const std::string& name) {
             py::gil_scoped_release release;
             ThrowIfError(s.models().LoadModel(name));
           })
      .def("unload_model",
           [](Server& s, const std::string& name) {
             py::gil_scoped_release release;
             ThrowIfError(s.models().UnloadModel(name));
           })
      .def("infer",
           [](Server& s, const std::string& model, const std::string& version,
              const std::vector<RawTensor>& inputs) {
             serve::InferRequest request;
             request.model_name = model;
             request.model_version = version;
             for (const RawTensor& raw : inputs) request.inputs.push_back(FromRaw(raw));
             StatusOr<serve::InferResponse> response;
             {
               py::gil_scoped_release release;
               response = s.Infer(request);
             }
             return ToPy(Unwrap(std::move(response)).outputs);
           })
      .def("is_ready", [](Server& s) { return s.models().IsReady(); })
      .def("is_model_ready",
           [](Server& s, const std::string& name, const std::string& version) {
             return s.models().IsModelReady(name, version);
           })
      .def("metadata", &Metadata)
      .def("repository_index",
           [](Server& s) {
             py::list out;
             for (const serve::RepositoryEntry& e : s.models().RepositoryIndex()) {
               out.append(
                   py::make_tuple(e.name, e.version, serve::ModelStateName(e.state), e.reason));
             }
             return out;
           })
      .def("metrics", [](Server& s) { return s.models().PrometheusMetrics(); });
}

void BindServe(py::module_& m) {
  using serve::Server;
  py::class_<Server> cls(m, "Server");
  cls.def(py::init([](const std::string& host, int http_port, int grpc_port, int http_threads,
                      const std::string& auth_token, const std::string& model_repository,
                      bool load_all, int64_t poll_interval_ms, int64_t max_request_bytes,
                      int64_t header_timeout_ms, int64_t body_timeout_ms, int64_t drain_timeout_ms,
                      const std::string& record_home, const std::string& ui_home) {
            return std::make_unique<Server>(
                Options(host, http_port, grpc_port, http_threads, auth_token, model_repository,
                        load_all, poll_interval_ms, max_request_bytes, header_timeout_ms,
                        body_timeout_ms, drain_timeout_ms, record_home, ui_home));
          }),
          py::arg("host"), py::arg("http_port"), py::arg("grpc_port"), py::arg("http_threads"),
          py::arg("auth_token"), py::arg("model_repository"), py::arg("load_all"),
          py::arg("poll_interval_ms"), py::arg("max_request_bytes"), py::arg("header_timeout_ms"),
          py::arg("body_timeout_ms"), py::arg("drain_timeout_ms"), py::arg("record_home") = "",
          py::arg("ui_home") = "")
      .def("start",
           [](Server& s) {
             py::gil_scoped_release release;
             ThrowIfError(s.Start());
           })
      .def("stop",
           [](Server& s) {
             py::gil_scoped_release release;
             s.Stop();
           })
      .def_property_readonly("running", &Server::running)
      .def_property_readonly("url", &Server::url)
      .def_property_readonly("http_port", &Server::http_port)
      .def_property_readonly("grpc_port", &Server::grpc_port);
  BindServerModels(cls);
}

BinderRegistration registration("serve", "The inference server (KServe V1/V2 over HTTP)",
                                &BindServe);

}  // namespace
}  // namespace mlcore::python

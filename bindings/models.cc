// mlcore._mlcore.models: the model registry. Records cross as dicts (times as float Unix
// seconds, metrics and tags as Python objects); every call releases the GIL, since each may
// hash files or wait for another process's write lock.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "mlcore/registry/model_registry.h"

namespace mlcore::python {
namespace {

using registry::ModelRegistry;
using registry::ModelVersion;
using registry::RegisteredModel;

py::dict VersionDict(const ModelVersion& v) {
  py::dict d;
  d["name"] = v.name;
  d["version"] = v.version;
  d["digest"] = v.digest;
  d["size"] = v.size;
  d["source"] = v.source;
  d["metrics"] = JsonToPy(v.metrics);
  d["tags"] = JsonToPy(v.tags);
  d["lineage"] = JsonToPy(v.lineage.ToJson());
  d["description"] = v.description;
  d["aliases"] = v.aliases;
  d["created_at"] = TimeOrNone(v.created_at);
  return d;
}

py::dict ModelDict(const RegisteredModel& m) {
  py::dict d;
  d["name"] = m.name;
  d["latest_version"] = m.latest_version;
  d["version_count"] = m.version_count;
  d["aliases"] = m.aliases;
  d["created_at"] = TimeOrNone(m.created_at);
  return d;
}

// ModelRegistry::Register with the options as keywords (metrics and tags as JSON-able objects).
py::dict Register(ModelRegistry& self, const std::string& name, const std::string& source,
                  const py::object& metrics, const py::object& tags, const std::string& description,
                  const std::string& study, std::optional<int64_t> trial, const std::string& run_id,
                  const std::string& task) {
  registry::RegisterOptions options;
  options.metrics = metrics.is_none() ? registry::Json::object() : PyToJson(metrics, "metrics");
  options.tags = tags.is_none() ? registry::Json::object() : PyToJson(tags, "tags");
  options.description = description;
  options.lineage.study = study;
  options.lineage.trial = trial;
  options.lineage.run_id = run_id;
  options.lineage.task = task;
  return VersionDict(Released([&] { return self.Register(name, source, options); }));
}

void BindModels(py::module_& m) {
  py::class_<ModelRegistry>(m, "ModelRegistry",
                            "Named models with numbered versions and aliases, in the metadata "
                            "store, each version's files in the artifact store.")
      .def(py::init([](const std::string& home, double busy_timeout, bool sync_artifacts) {
             registry::ModelRegistryOptions options;
             options.home = home;
             options.busy_timeout = SecondsOrInfinite(busy_timeout);
             options.sync_artifacts = sync_artifacts;
             return Released([&] { return ModelRegistry::Open(options); });
           }),
           py::arg("home") = "", py::arg("busy_timeout") = 30.0, py::arg("sync_artifacts") = true)
      .def("register", &Register, py::arg("name"), py::arg("source"),
           py::arg("metrics") = py::none(), py::arg("tags") = py::none(),
           py::arg("description") = "", py::arg("study") = "", py::arg("trial") = std::nullopt,
           py::arg("run_id") = "", py::arg("task") = "")
      .def("list_models",
           [](ModelRegistry& self) {
             py::list out;
             for (const auto& model : Released([&] { return self.ListModels(); }))
               out.append(ModelDict(model));
             return out;
           })
      .def("get_model",
           [](ModelRegistry& self, const std::string& name) {
             return ModelDict(Released([&] { return self.GetModel(name); }));
           })
      .def("list_versions",
           [](ModelRegistry& self, const std::string& name) {
             py::list out;
             for (const auto& v : Released([&] { return self.ListVersions(name); }))
               out.append(VersionDict(v));
             return out;
           })
      .def("resolve",
           [](ModelRegistry& self, const std::string& ref) {
             return VersionDict(Released([&] { return self.Resolve(ref); }));
           })
      .def(
          "set_alias",
          [](ModelRegistry& self, const std::string& name, const std::string& alias,
             int64_t version) { Released([&] { return self.SetAlias(name, alias, version); }); },
          py::arg("name"), py::arg("alias"), py::arg("version"))
      .def("delete_alias",
           [](ModelRegistry& self, const std::string& name, const std::string& alias) {
             Released([&] { return self.DeleteAlias(name, alias); });
           })
      .def(
          "delete_version",
          [](ModelRegistry& self, const std::string& name, int64_t version, bool force) {
            Released([&] { return self.DeleteVersion(name, version, force); });
          },
          py::arg("name"), py::arg("version"), py::arg("force") = false)
      .def(
          "materialize",
          [](ModelRegistry& self, const std::string& ref, const std::string& dest) {
            return Released([&] { return self.Materialize(ref, dest); });
          },
          py::arg("ref"), py::arg("dest") = "")
      .def_property_readonly("home", &ModelRegistry::home);

  m.def(
      "parse_model_ref",
      [](const std::string& text) {
        registry::ModelRef ref = Unwrap(registry::ParseModelRef(text));
        return py::make_tuple(ref.name, ref.version, ref.alias);
      },
      "(name, version or None, alias or None) of 'name', 'name/3' or 'name@alias'; ValueError "
      "saying what is wrong otherwise.");
}

static BinderRegistration reg("models", "The model registry: versions, aliases, lineage",
                              &BindModels);

}  // namespace
}  // namespace mlcore::python

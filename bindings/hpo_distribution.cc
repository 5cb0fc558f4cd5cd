// mlcore._mlcore.hpo.Distribution: what values one hyperparameter may take, and its Katib form.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/katib.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

void BindDistribution(py::module_& m) {
  py::class_<Distribution>(m, "Distribution", "What values one hyperparameter may take.")
      .def_static(
          "float_",
          [](double low, double high, bool log, std::optional<double> step) {
            return Unwrap(Distribution::Float(low, high, log, step));
          },
          py::arg("low"), py::arg("high"), py::arg("log") = false, py::arg("step") = py::none())
      .def_static(
          "int_",
          [](int64_t low, int64_t high, bool log, int64_t step) {
            return Unwrap(Distribution::Int(low, high, log, step));
          },
          py::arg("low"), py::arg("high"), py::arg("log") = false, py::arg("step") = 1)
      .def_static("discrete",
                  [](std::vector<double> values) { return Unwrap(Distribution::Discrete(values)); })
      .def_static("categorical",
                  [](const py::sequence& choices) {
                    std::vector<ParamValue> c;
                    for (py::handle h : choices)
                      c.push_back(ToParamValue(h, "a categorical choice"));
                    return Unwrap(Distribution::Categorical(std::move(c)));
                  })
      .def_static("from_json",
                  [](const std::string& j) { return Unwrap(Distribution::FromJson(j)); })
      .def_static(
          "from_katib",
          [](const std::string& name, const std::string& parameter_type, const std::string& min,
             const std::string& max, const std::string& step, std::vector<std::string> list,
             const std::string& distribution) {
            return Unwrap(DistributionFromKatib(
                {name, parameter_type, min, max, step, std::move(list), distribution}));
          },
          py::arg("name"), py::arg("parameter_type"), py::arg("min") = "", py::arg("max") = "",
          py::arg("step") = "", py::arg("list") = std::vector<std::string>(),
          py::arg("distribution") = "")
      .def("to_katib",
           [](const Distribution& d, const std::string& name) {
             return JsonTextToPy(KatibParameterToJson(DistributionToKatib(name, d)));
           })
      .def_property_readonly("type", [](const Distribution& d) { return ParamTypeName(d.type()); })
      .def_property_readonly("low", &Distribution::low)
      .def_property_readonly("high", &Distribution::high)
      .def_property_readonly("log", &Distribution::log)
      .def_property_readonly("step", &Distribution::step)
      .def_property_readonly("choices",
                             [](const Distribution& d) {
                               py::list l;
                               for (const ParamValue& v : d.choices()) l.append(FromParamValue(v));
                               return l;
                             })
      .def("to_json", &Distribution::ToJson)
      .def("contains",
           [](const Distribution& d, const py::handle& v) {
             return d.ToInternal(ToParamValue(v, "value")).ok();
           })
      .def("__eq__", [](const Distribution& a, const Distribution& b) { return a == b; })
      .def("__repr__",
           [](const Distribution& d) { return "Distribution(" + d.DebugString() + ")"; });
}

BinderRegistration reg("hpo", "Hyperparameter search: studies, trials, samplers, pruners",
                       &BindDistribution, kDistributions);

}  // namespace
}  // namespace mlcore::python::hpo_bindings

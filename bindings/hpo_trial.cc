// mlcore._mlcore.hpo.Trial and TrialPruned: suggesting parameters, reporting progress and
// asking about pruning, each without the GIL (suggestions may wait on the store).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/study.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

void BindTrialPruned(py::module_& m) {
  TrialPrunedType() =
      PyErr_NewExceptionWithDoc("mlcore._mlcore.hpo.TrialPruned",
                                "Raise from an objective after trial.should_prune() returned True.",
                                PyExc_Exception, nullptr);
  m.attr("TrialPruned") = py::handle(TrialPrunedType());
}

void BindTrial(py::module_& m) {
  BindTrialPruned(m);
  py::class_<Trial, std::shared_ptr<Trial>>(
      m, "Trial", "A running trial: suggest parameters, report progress, ask about pruning.")
      .def_property_readonly("number", &Trial::number)
      .def(
          "suggest_float",
          [](Trial& t, const std::string& name, double low, double high, bool log,
             std::optional<double> step) {
            return Released([&] { return t.SuggestFloat(name, low, high, log, step); });
          },
          py::arg("name"), py::arg("low"), py::arg("high"), py::kw_only(), py::arg("log") = false,
          py::arg("step") = py::none())
      .def(
          "suggest_int",
          [](Trial& t, const std::string& name, int64_t low, int64_t high, bool log, int64_t step) {
            return Released([&] { return t.SuggestInt(name, low, high, log, step); });
          },
          py::arg("name"), py::arg("low"), py::arg("high"), py::kw_only(), py::arg("log") = false,
          py::arg("step") = 1)
      .def(
          "suggest_categorical",
          [](Trial& t, const std::string& name, const py::sequence& choices) {
            std::vector<ParamValue> c;
            for (py::handle h : choices) {
              c.push_back(ToParamValue(h, "a choice of parameter '" + name + "'"));
            }
            ParamValue v;
            v = Released([&] { return t.SuggestCategorical(name, std::move(c)); });
            return FromParamValue(v);
          },
          py::arg("name"), py::arg("choices"))
      .def(
          "suggest",
          [](Trial& t, const std::string& name, const Distribution& d) {
            ParamValue v;
            v = Released([&] { return t.Suggest(name, d); });
            return FromParamValue(v);
          },
          py::arg("name"), py::arg("distribution"))
      .def(
          "report",
          [](Trial& t, double value, int64_t step) {
            Released([&] { return t.Report(value, step); });
          },
          py::arg("value"), py::arg("step"))
      .def("should_prune", [](Trial& t) { return Released([&] { return t.ShouldPrune(); }); })
      .def_property_readonly("params", [](const Trial& t) { return ParamsToDict(t.params()); })
      .def_property_readonly(
          "devices", [](const Trial& t) { return t.devices(); },
          "CUDA devices (ordinals) this trial holds for itself; [] without "
          "gpus_per_trial.")
      .def_property_readonly("cuda_visible_devices", &Trial::cuda_visible_devices,
                             "The trial's devices as CUDA_VISIBLE_DEVICES for a subprocess.")
      .def_property_readonly("cpus", &Trial::cpus)
      .def(
          "set_user_attr",
          [](Trial& t, const std::string& key, const py::object& value) {
            std::string text = UserAttrJson(key, value);
            Released([&] { return t.SetUserAttr(key, text); });
          },
          py::arg("key"), py::arg("value"))
      .def_property_readonly("user_attrs",
                             [](const Trial& t) { return AttrsToDict(t.record().user_attrs); })
      .def("_record", [](const Trial& t) { return FrozenToDict(t.record()); });
}

BinderRegistration reg("hpo", "", &BindTrial, kTrials);

}  // namespace
}  // namespace mlcore::python::hpo_bindings

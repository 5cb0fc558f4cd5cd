// mlcore._mlcore.hpo.StudySpec: the mlcore study file read by the C++ reader (study_spec.h);
// mlcore hpo's command line turns its YAML into JSON and reads the fields back.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.h"
#include "hpo_convert.h"
#include "mlcore/hpo/study_spec.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

void BindStudySpec(py::module_& m) {
  py::class_<StudySpec>(m, "StudySpec", "A study whose trials run a command (a study file).")
      .def_readonly("name", &StudySpec::name)
      .def_property_readonly("direction",
                             [](const StudySpec& s) { return StudyDirectionName(s.direction); })
      .def_readonly("sampler", &StudySpec::sampler)
      .def_readonly("seed", &StudySpec::seed)
      .def_readonly("pruner", &StudySpec::pruner)
      .def_readonly("pruner_options", &StudySpec::pruner_options)
      .def_readonly("command", &StudySpec::command)
      .def_readonly("metric", &StudySpec::metric)
      .def_property_readonly("format",
                             [](const StudySpec& s) { return MetricsFormatName(s.format); })
      .def_property_readonly("space",
                             [](const StudySpec& s) {
                               py::list out;
                               for (const SearchSpace::Param& p : s.space.params()) {
                                 out.append(py::make_tuple(p.name, p.distribution));
                               }
                               return out;
                             })
      .def_readonly("n_trials", &StudySpec::n_trials)
      .def_readonly("n_parallel", &StudySpec::n_parallel)
      .def_readonly("timeout", &StudySpec::timeout)
      .def_readonly("trial_timeout", &StudySpec::trial_timeout)
      .def_readonly("max_failed_trials", &StudySpec::max_failed_trials)
      .def_readonly("goal", &StudySpec::goal)
      .def_readonly("gpus_per_trial", &StudySpec::gpus_per_trial)
      .def_readonly("gpus", &StudySpec::gpus);
  m.def(
      "study_spec_from_json",
      [](const std::string& json) { return Unwrap(StudySpecFromJson(json)); }, py::arg("json"));
}

BinderRegistration reg("hpo", "", &BindStudySpec, kExports);

}  // namespace
}  // namespace mlcore::python::hpo_bindings

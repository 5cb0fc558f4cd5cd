// mlcore._mlcore.hpo's Katib Experiment export and import: KatibExperimentOptions bound field by
// field (so mlcore.hpo.to_katib's defaults are the struct's), the YAML writer and the reader.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/katib.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

using Options = KatibExperimentOptions;

void BindKatib(py::module_& m) {
  py::class_<Options>(m, "KatibExperimentOptions", "A study as a Katib Experiment.")
      .def(py::init<>())
      .def_readwrite("name", &Options::name)
      .def_readwrite("k8s_namespace", &Options::k8s_namespace)
      .def_readwrite("objective_metric", &Options::objective_metric)
      .def_readwrite("additional_metrics", &Options::additional_metrics)
      .def_property(
          "direction", [](const Options& o) { return StudyDirectionName(o.direction); },
          [](Options& o, const std::string& d) { o.direction = Unwrap(ParseStudyDirection(d)); })
      .def_readwrite("goal", &Options::goal)
      .def_readwrite("sampler", &Options::sampler)
      .def_readwrite("seed", &Options::seed)
      .def_readwrite("pruner", &Options::pruner)
      .def_readwrite("min_trials_required", &Options::min_trials_required)
      .def_readwrite("start_step", &Options::start_step)
      .def_readwrite("parallel_trial_count", &Options::parallel_trial_count)
      .def_readwrite("max_trial_count", &Options::max_trial_count)
      .def_readwrite("max_failed_trial_count", &Options::max_failed_trial_count)
      .def_property(
          "space",
          [](const Options& o) {
            py::list out;
            for (const SearchSpace::Param& p : o.space.params()) {
              out.append(py::make_tuple(p.name, p.distribution));
            }
            return out;
          },
          [](Options& o, const py::list& entries) { o.space = ToSearchSpace(entries); },
          "As (name, Distribution) pairs when read; set from mlcore.hpo's space entries.")
      .def_readwrite("command_template", &Options::command_template)
      .def_readwrite("image", &Options::image)
      .def_readwrite("gpus_per_trial", &Options::gpus_per_trial);
  m.def(
      "katib_experiment_yaml", [](const Options& o) { return Unwrap(KatibExperimentYaml(o)); },
      py::arg("options"));
  m.def(
      "katib_experiment_from_json",
      [](const std::string& json) { return Unwrap(KatibExperimentFromJson(json)); },
      py::arg("json"));
}

BinderRegistration reg("hpo", "", &BindKatib, kExports);

}  // namespace
}  // namespace mlcore::python::hpo_bindings

// mlcore._mlcore.hpo: the study reports computed in C++ (trials table, SVG plots, progress text,
// Katib YAML), which python/mlcore/hpo wraps for pandas, Jupyter and the CLI.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/katib.h"
#include "mlcore/hpo/plots.h"
#include "mlcore/hpo/progress.h"
#include "mlcore/hpo/study.h"
#include "mlcore/hpo/trials_table.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

py::tuple TrialsTableOfStudy(Study& study) {
  TrialsTable table = Released([&] { return TrialsTableOf(study); });
  py::list rows;
  for (const auto& row : table.rows) {
    py::list cells;
    for (const Json& cell : row) cells.append(JsonToPy(cell));
    rows.append(cells);
  }
  return py::make_tuple(table.columns, rows);
}

// [(number, value, params, distributions)] from the Python layer (value: what `target` chose).
std::vector<PlotTrial> ToPlotTrials(const py::list& points) {
  std::vector<PlotTrial> out;
  for (py::handle item : points) {
    auto [number, value, params, distributions] =
        item.cast<std::tuple<int64_t, double, py::dict, py::dict>>();
    PlotTrial t{number, value, DictToParams(params), {}};
    for (auto d : distributions) {
      t.distributions.insert_or_assign(py::str(d.first), d.second.cast<Distribution>());
    }
    out.push_back(std::move(t));
  }
  return out;
}

PlotOptions ToPlotOptions(const std::string& study_name, bool minimize,
                          const std::string& target_name, std::vector<std::string> params) {
  PlotOptions o;
  o.study_name = study_name;
  o.minimize = minimize;
  o.target_name = target_name;
  o.params = std::move(params);
  return o;
}

void BindReport(py::module_& m) {
  m.def("trials_table", &TrialsTableOfStudy, py::arg("study"),
        "(columns, rows) of every trial of the study (see trials_table.h).");
  m.def(
      "plot_optimization_history",
      [](const py::list& points, const std::string& study_name, bool minimize,
         const std::string& target_name) {
        return OptimizationHistorySvg(ToPlotTrials(points),
                                      ToPlotOptions(study_name, minimize, target_name, {}));
      },
      py::arg("points"), py::arg("study_name"), py::arg("minimize"), py::arg("target_name"));
  m.def(
      "plot_parallel_coordinate",
      [](const py::list& points, const std::string& study_name, bool minimize,
         const std::string& target_name, std::vector<std::string> params) {
        return ParallelCoordinateSvg(
            ToPlotTrials(points),
            ToPlotOptions(study_name, minimize, target_name, std::move(params)));
      },
      py::arg("points"), py::arg("study_name"), py::arg("minimize"), py::arg("target_name"),
      py::arg("params"));
  m.def(
      "katib_experiment_from_yaml",
      [](const std::string& yaml) { return Unwrap(KatibExperimentFromYaml(yaml)); },
      py::arg("yaml"));

  py::class_<OptimizeProgress>(m, "OptimizeProgress",
                               "Counts finished trials; text() and fraction() as the bar shows.")
      .def(py::init([](int64_t n_trials, std::optional<double> timeout, bool minimize) {
             ProgressOptions o;
             o.n_trials = n_trials;
             o.timeout = SecondsOrInfinite(timeout);
             o.direction = minimize ? StudyDirection::kMinimize : StudyDirection::kMaximize;
             return std::make_unique<OptimizeProgress>(o);
           }),
           py::arg("n_trials"), py::arg("timeout"), py::arg("minimize"))
      .def(
          "record",
          [](OptimizeProgress& p, const std::string& state, std::optional<double> value,
             int n_values) {
            FrozenTrial t;
            t.state = state == "failed"     ? TrialState::kFailed
                      : state == "complete" ? TrialState::kComplete
                                            : TrialState::kPruned;
            t.has_value = value.has_value();
            t.value = value.value_or(0);
            if (value) t.values.assign(n_values, *value);
            p.Record(t);
          },
          py::arg("state"), py::arg("value"), py::arg("n_values"))
      .def("text", &OptimizeProgress::Text)
      .def("fraction", &OptimizeProgress::Fraction);
}

BinderRegistration reg("hpo", "", &BindReport, kExports);

}  // namespace
}  // namespace mlcore::python::hpo_bindings

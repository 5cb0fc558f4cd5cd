// mlcore._mlcore.hpo.param_importances: ParamImportances over trials the Python layer hands over
// as (params, distributions, objective value) triples, the value being what its `target` chose.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/importance.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

std::vector<FrozenTrial> FrozenOf(const py::list& trials) {
  std::vector<FrozenTrial> frozen;
  for (py::handle item : trials) {
    auto [params, distributions, value] = item.cast<std::tuple<py::dict, py::dict, double>>();
    FrozenTrial t;
    t.state = TrialState::kComplete;
    t.params = DictToParams(params);
    for (auto d : distributions) {
      t.distributions.insert_or_assign(py::str(d.first), d.second.cast<Distribution>());
    }
    t.value = value;
    t.has_value = true;
    t.values = {value};
    frozen.push_back(std::move(t));
  }
  return frozen;
}

py::list PairsOf(const std::vector<std::pair<std::string, double>>& pairs) {
  py::list out;
  for (const auto& [name, importance] : pairs) out.append(py::make_tuple(name, importance));
  return out;
}

py::list FanovaImportancesOf(const py::list& trials, int n_trees, int max_depth, uint64_t seed) {
  std::vector<FrozenTrial> frozen = FrozenOf(trials);
  FanovaOptions o;
  o.n_trees = n_trees;
  o.max_depth = max_depth;
  o.seed = seed;
  return PairsOf(Released([&] { return FanovaImportances(frozen, o); }));
}

py::list ParamImportancesOf(const py::list& trials, int bins) {
  std::vector<FrozenTrial> frozen = FrozenOf(trials);
  ImportanceOptions o;
  o.bins = bins;
  py::list out;
  for (const auto& [name, importance] : Unwrap(ParamImportances(frozen, o))) {
    out.append(py::make_tuple(name, importance));
  }
  return out;
}

void BindImportance(py::module_& m) {
  m.def("param_importances", &ParamImportancesOf, py::arg("trials"),
        py::arg("bins") = ImportanceOptions().bins,
        "[(name, importance)], most important first, from [(params, distributions, value)].");
  m.def("fanova_importances", &FanovaImportancesOf, py::arg("trials"),
        py::arg("n_trees") = FanovaOptions().n_trees,
        py::arg("max_depth") = FanovaOptions().max_depth, py::arg("seed") = FanovaOptions().seed,
        "fANOVA [(name, importance)], most important first, from [(params, distributions, "
        "value)].");
}

BinderRegistration reg("hpo", "", &BindImportance, kExports);

}  // namespace
}  // namespace mlcore::python::hpo_bindings

// Conversions the hpo binding files (bindings/hpo_*.cc) share: parameter values, search spaces,
// trials and studies between their C++ types and the Python values mlcore.hpo hands over.
#pragma once

#include <pybind11/pybind11.h>

#include <map>
#include <string>
#include <vector>

#include "bindings.h"
#include "mlcore/hpo/study.h"

namespace mlcore::python::hpo_bindings {

// Binder orders within mlcore._mlcore.hpo: types before the binders whose signatures name them.
enum BindOrder {
  kDistributions = 0,
  kTrials = 10,
  kSamplers = 20,
  kStudies = 30,
  kOptimize = 40,  // Study.optimize*, added to the Study class kStudies bound
  kExports = 50,
};

// mlcore._mlcore.hpo.TrialPruned, made by the trial binder (hpo_trial.cc).
PyObject*& TrialPrunedType();

// A bool, int, float or str (numpy scalars included) as a ParamValue; TypeError naming `what`.
hpo::ParamValue ToParamValue(const py::handle& o, const std::string& what);
py::object FromParamValue(const hpo::ParamValue& v);
py::dict ParamsToDict(const std::map<std::string, hpo::ParamValue>& params);
std::map<std::string, hpo::ParamValue> DictToParams(const py::dict& d);

// The Python side hands a declared space over as [(name, distribution, parent or None,
// [parent values that enable it]), ...], in declaration order.
hpo::SearchSpace ToSearchSpace(const py::list& search_space);

// The values an objective returned: a number, or a sequence of numbers (multi-objective).
StatusOr<std::vector<double>> ToValues(const py::object& result);

// User attrs are stored as JSON text; Python sees the decoded values.
py::dict AttrsToDict(const std::map<std::string, std::string>& attrs);
// The JSON text of a user attr's value; TypeError naming the key when JSON cannot hold it.
std::string UserAttrJson(const std::string& key, const py::object& value);
py::dict FrozenToDict(const hpo::FrozenTrial& t);
py::list TrialsToList(const hpo::TrialList& trials);
py::list DirectionNames(const std::vector<hpo::StudyDirection>& directions);
py::dict StudyRecordToDict(const hpo::StudyRecord& r);

}  // namespace mlcore::python::hpo_bindings

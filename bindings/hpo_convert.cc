#include "hpo_convert.h"

#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>

#include "convert.h"

namespace mlcore::python::hpo_bindings {

using namespace mlcore::hpo;  // NOLINT: conversions for this one namespace

PyObject*& TrialPrunedType() {
  static PyObject* type = nullptr;
  return type;
}

ParamValue ToParamValue(const py::handle& o, const std::string& what) {
  if (py::isinstance<py::bool_>(o)) return o.cast<bool>();
  if (py::isinstance<py::int_>(o)) return o.cast<int64_t>();
  if (py::isinstance<py::float_>(o)) return o.cast<double>();
  if (py::isinstance<py::str>(o)) return o.cast<std::string>();
  // numpy scalars and other numbers
  if (py::hasattr(o, "__index__"))
    return py::int_(py::reinterpret_borrow<py::object>(o)).cast<int64_t>();
  if (py::hasattr(o, "__float__"))
    return py::float_(py::reinterpret_borrow<py::object>(o)).cast<double>();
  throw py::type_error(what + " must be bool, int, float or str, not " + TypeName(o));
}

py::object FromParamValue(const ParamValue& v) {
  struct Converter {
    py::object operator()(bool x) const { return py::bool_(x); }
    py::object operator()(int64_t x) const { return py::int_(x); }
    py::object operator()(double x) const { return py::float_(x); }
    py::object operator()(const std::string& x) const { return py::str(x); }
  };
  return std::visit(Converter{}, v);
}

py::dict ParamsToDict(const std::map<std::string, ParamValue>& params) {
  py::dict d;
  for (const auto& [k, v] : params) d[py::str(k)] = FromParamValue(v);
  return d;
}

std::map<std::string, ParamValue> DictToParams(const py::dict& d) {
  std::map<std::string, ParamValue> out;
  for (auto item : d) {
    std::string name = py::str(item.first);
    out[name] = ToParamValue(item.second, "parameter '" + name + "'");
  }
  return out;
}

SearchSpace ToSearchSpace(const py::list& search_space) {
  SearchSpace space;
  for (py::handle item : search_space) {
    auto entry = item.cast<py::tuple>();
    std::optional<Condition> condition;
    if (!entry[2].is_none()) {
      Condition cond;
      cond.parent = entry[2].cast<std::string>();
      for (py::handle v : entry[3]) cond.values.push_back(ToParamValue(v, "a condition value"));
      condition = std::move(cond);
    }
    ThrowIfError(space.Add(entry[0].cast<std::string>(), entry[1].cast<Distribution>(),
                           std::move(condition)));
  }
  return space;
}

namespace {

// An int beyond a double's range (10**400) is a number, only too large: say so, where a failed
// cast would call it "not a number".
std::optional<std::string> TooLargeInt(py::handle v) {
  if (!PyLong_Check(v.ptr())) return std::nullopt;
  PyFloat_AsDouble(v.ptr());
  if (!PyErr_Occurred()) return std::nullopt;
  PyErr_Clear();
  const size_t digits = std::string(py::str(v)).size();
  return "an int too large for a float (" + std::to_string(digits) + " digits)";
}

}  // namespace

StatusOr<std::vector<double>> ToValues(const py::object& result) {
  if (result.is_none()) return absl::InvalidArgumentError("the objective returned None");
  if (py::isinstance<py::sequence>(result) && !py::isinstance<py::str>(result)) {
    std::vector<double> values;
    for (py::handle v : result) {
      if (std::optional<std::string> large = TooLargeInt(v)) {
        return absl::InvalidArgumentError("the objective returned a sequence holding " + *large);
      }
      try {
        values.push_back(v.cast<double>());
      } catch (const py::cast_error&) {
        return absl::InvalidArgumentError("the objective returned a sequence holding " +
                                          TypeName(v) + ", not numbers");
      }
    }
    return values;
  }
  if (std::optional<std::string> large = TooLargeInt(result)) {
    return absl::InvalidArgumentError("the objective returned " + *large);
  }
  try {
    return std::vector<double>{result.cast<double>()};
  } catch (const py::cast_error&) {
    return absl::InvalidArgumentError("the objective returned " + TypeName(result) +
                                      ", not a number or a sequence of numbers");
  }
}

// The JSON text of a user attr's value; TypeError naming the key when JSON cannot hold it.
std::string UserAttrJson(const std::string& key, const py::object& value) {
  try {
    return py::module_::import("json").attr("dumps")(value).cast<std::string>();
  } catch (py::error_already_set& e) {
    throw py::type_error("user attr '" + key +
                         "' is not JSON-serializable: " + std::string(py::str(e.value())));
  }
}

py::dict AttrsToDict(const std::map<std::string, std::string>& attrs) {
  py::dict out;
  for (const auto& [k, v] : attrs) out[py::str(k)] = JsonTextToPy(v);
  return out;
}

py::dict FrozenToDict(const FrozenTrial& t) {
  py::dict d;
  d["number"] = t.number;
  d["state"] = TrialStateName(t.state);
  d["value"] = t.has_value ? py::object(py::float_(t.value)) : py::object(py::none());
  if (t.values.empty()) {
    d["values"] = py::none();
  } else {
    py::list values;
    for (double v : t.values) values.append(py::float_(v));
    d["values"] = values;
  }
  d["params"] = ParamsToDict(t.params);
  py::dict dists;
  for (const auto& [k, v] : t.distributions) dists[py::str(k)] = py::cast(v);
  d["distributions"] = dists;
  py::dict inter;
  for (const auto& [s, v] : t.intermediate_values) inter[py::int_(s)] = py::float_(v);
  d["intermediate_values"] = inter;
  d["error"] = t.error;
  d["user_attrs"] = AttrsToDict(t.user_attrs);
  d["started"] = TimeOrNone(t.started);
  d["finished"] = TimeOrNone(t.finished);
  return d;
}

py::list TrialsToList(const TrialList& trials) {
  py::list out;
  for (const auto& t : trials) out.append(FrozenToDict(*t));
  return out;
}

py::list DirectionNames(const std::vector<StudyDirection>& directions) {
  py::list out;
  for (StudyDirection d : directions) out.append(py::str(StudyDirectionName(d)));
  return out;
}

py::dict StudyRecordToDict(const StudyRecord& r) {
  py::dict d;
  d["name"] = r.name;
  d["direction"] = StudyDirectionName(r.direction);
  d["directions"] = DirectionNames(r.directions);
  d["created"] = TimeOrNone(r.created);
  return d;
}

}  // namespace mlcore::python::hpo_bindings

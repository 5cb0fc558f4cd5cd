#include "convert.h"

#include <cmath>

#include "foreign_thread.h"

namespace mlcore::python {

PyCallable::PyCallable(py::object fn, std::string what)
    : fn_(new py::object(std::move(fn)),
          [](py::object* o) {
            // At interpreter exit the reference is left: taking the GIL then may end this
            // thread inside a destructor (see foreign_thread.h), and the object dies anyway.
            if (InterpreterFinalizing()) return;
            py::gil_scoped_acquire gil;
            delete o;
          }),
      what_(std::move(what)) {}

Status PyCallable::Raised(py::error_already_set& e) const {
  return absl::AbortedError(what_ + " raised " + e.what());
}

double UnixSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

absl::Time FromUnixSeconds(double seconds) { return absl::UnixEpoch() + absl::Seconds(seconds); }

py::object TimeOrNone(absl::Time t) {
  if (t == absl::InfinitePast()) return py::none();
  return py::float_(UnixSeconds(t));
}

py::object TimeOrNone(const std::optional<absl::Time>& t) {
  return t ? TimeOrNone(*t) : py::none();
}

absl::Duration SecondsOrInfinite(std::optional<double> seconds) {
  // absl turns nan into an infinite duration: timeout=nan would silently mean "no limit".
  if (seconds && std::isnan(*seconds)) {
    throw py::value_error("a time in seconds must be a number, got nan (None: no limit)");
  }
  return seconds ? absl::Seconds(*seconds) : absl::InfiniteDuration();
}

py::object JsonToPy(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      return py::none();
    case Json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case Json::value_t::number_integer:
      return py::int_(j.get<int64_t>());
    case Json::value_t::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case Json::value_t::number_float:
      return py::float_(j.get<double>());
    case Json::value_t::string:
      return py::str(j.get_ref());
    case Json::value_t::array: {
      py::list out(j.size());
      for (size_t i = 0; i < j.size(); ++i) out[i] = JsonToPy(j[i]);
      return std::move(out);
    }
    case Json::value_t::object: {
      py::dict out;
      for (const auto& [k, v] : j.items()) out[py::str(k)] = JsonToPy(v);
      return std::move(out);
    }
  }
  return py::none();
}

py::object JsonTextToPy(const std::string& text) {
  // Python's own parser: the text may hold NaN or Infinity, which json.dumps writes and strict
  // JSON parsers refuse.
  return py::module_::import("json").attr("loads")(text);
}

Json PyToJson(const py::handle& o, const std::string& what) {
  if (o.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(o)) return o.cast<bool>();
  if (py::isinstance<py::int_>(o)) return o.cast<int64_t>();
  if (py::isinstance<py::float_>(o)) return o.cast<double>();
  if (py::isinstance<py::str>(o)) return o.cast<std::string>();
  if (py::isinstance<py::list>(o) || py::isinstance<py::tuple>(o)) {
    Json out = Json::array();
    for (const py::handle& item : o) out.push_back(PyToJson(item, what));
    return out;
  }
  if (py::isinstance<py::dict>(o)) {
    Json out = Json::object();
    for (const auto& [k, v] : o.cast<py::dict>()) {
      if (!py::isinstance<py::str>(k)) {
        throw py::type_error(what + ": dict keys must be str, not " + TypeName(k));
      }
      out[k.cast<std::string>()] = PyToJson(v, what);
    }
    return out;
  }
  throw py::type_error(what + ": " + TypeName(o) +
                       " is not a pipeline value (int, float, str, bool, list, dict, None)");
}

Json ParseJsonArg(const std::string& text, const std::string& what) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) throw py::value_error(what + " is not valid JSON");
  return j;
}

std::string TypeName(const py::handle& o) {
  return std::string(py::str(py::type::of(o).attr("__name__")));
}

}  // namespace mlcore::python

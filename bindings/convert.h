// The conversions every binding file shares, written once: running C++ without the GIL, Python
// objects owned by C++ threads, times and durations as float seconds, and JSON values as Python
// objects. Binding files convert with these and hold no logic of their own.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "bindings.h"
#include "mlcore/core/json.h"

namespace mlcore::python {

// Runs `fn` (returning Status or StatusOr<T>) with the GIL released; raises its error, or
// returns its value, with the GIL held again (py::object conversions need it).
template <typename Fn>
auto Released(Fn&& fn) {
  auto result = [&] {
    py::gil_scoped_release release;
    return std::forward<Fn>(fn)();
  }();
  if constexpr (std::is_same_v<decltype(result), Status>) {
    ThrowIfError(result);
  } else {
    return Unwrap(std::move(result));
  }
}

// A Python object (a callable, an iterator) held by C++ objects that run, are copied and are
// destroyed on threads that may not hold the GIL (study workers, prefetch threads, the task
// pool): the reference is dropped under the GIL. Copies share the object.
class PyCallable {
 public:
  // `what` names the object in the error when it raises ("gradient hook raised ...").
  explicit PyCallable(py::object fn, std::string what = "Python callback");
  // Calls fn(args...) taking the GIL; a Python exception becomes an Aborted status.
  template <typename... Args>
  StatusOr<py::object> Call(Args&&... args) const {
    py::gil_scoped_acquire gil;
    try {
      return (*fn_)(std::forward<Args>(args)...);
    } catch (py::error_already_set& e) {
      return Raised(e);
    }
  }
  // The object itself, for other protocols or to handle errors yourself; use it with the GIL.
  const py::object& get() const { return *fn_; }
  // The Aborted status that reports `e`, raised by this object.
  Status Raised(py::error_already_set& e) const;

 private:
  std::shared_ptr<py::object> fn_;
  std::string what_;
};

// Seconds since the Unix epoch; None for a time never set (absl::InfinitePast() or nullopt).
py::object TimeOrNone(absl::Time t);
py::object TimeOrNone(const std::optional<absl::Time>& t);
double UnixSeconds(absl::Time t);
absl::Time FromUnixSeconds(double seconds);
// A timeout given in seconds; None means no limit.
absl::Duration SecondsOrInfinite(std::optional<double> seconds);

// JSON values as Python objects, directly (no text round trip: this is on every in-process
// pipeline task's path).
py::object JsonToPy(const Json& j);
// JSON text that Python's json.dumps wrote (NaN and Infinity included) as Python objects.
py::object JsonTextToPy(const std::string& text);
// Python values as JSON; TypeError naming `what` for anything JSON cannot hold.
Json PyToJson(const py::handle& o, const std::string& what);
// JSON text handed over by the Python layer; ValueError naming `what` when it is not JSON.
Json ParseJsonArg(const std::string& text, const std::string& what);

// The name of `o`'s type, for error messages.
std::string TypeName(const py::handle& o);

}  // namespace mlcore::python

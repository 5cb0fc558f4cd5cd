// Helpers shared by the nn bindings (bindings/nn.cc, bindings/nn_models.cc): a Python callable
// safe to copy and drop without the GIL, running C++ without the GIL, History as a dict, and
// Python callbacks wrapped as nn::Callback.
#pragma once

#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>

#include "bindings.h"
#include "mlcore/nn/callback.h"
#include "mlcore/nn/model.h"

namespace mlcore::python::nn_bindings {

// A Python callable that may be copied and destroyed on threads that do not hold the GIL.
class PyCallable {
 public:
  explicit PyCallable(py::object fn)
      : fn_(new py::object(std::move(fn)), [](py::object* o) {
          py::gil_scoped_acquire gil;
          delete o;
        }) {}
  // Calls fn(args...) under the GIL; a Python exception becomes an Aborted status.
  template <typename... Args>
  StatusOr<py::object> Call(Args&&... args) const {
    py::gil_scoped_acquire gil;
    try {
      return (*fn_)(std::forward<Args>(args)...);
    } catch (py::error_already_set& e) {
      return absl::AbortedError(std::string("Python callback raised ") + e.what());
    }
  }

 private:
  std::shared_ptr<py::object> fn_;
};

template <typename Fn>
auto Released(Fn&& fn) {
  decltype(fn()) result = absl::UnknownError("not run");
  {
    py::gil_scoped_release release;
    result = fn();
  }
  return result;
}

inline py::dict HistoryDict(const nn::History& h) {
  py::dict d;
  d["history"] = h.metrics;
  d["epochs_run"] = h.epochs_run;
  d["stopped_early"] = h.stopped_early;
  return d;
}

inline std::shared_ptr<nn::Callback> ToCallback(const py::handle& obj) {
  if (py::isinstance<nn::Callback>(obj)) return obj.cast<std::shared_ptr<nn::Callback>>();
  if (!py::hasattr(obj, "on_epoch_end")) {
    throw py::type_error("callbacks must be mlcore.nn callbacks or objects with on_epoch_end");
  }
  PyCallable fn(py::reinterpret_borrow<py::object>(obj.attr("on_epoch_end")));
  return nn::LambdaCallback([fn](int epoch, const nn::Logs& logs) -> StatusOr<bool> {
    MLCORE_ASSIGN_OR_RETURN(py::object r, fn.Call(epoch, logs));
    py::gil_scoped_acquire gil;
    return py::bool_(r).cast<bool>();
  });
}

}  // namespace mlcore::python::nn_bindings

#include <pybind11/pybind11.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "bindings.h"
#include "mlcore/core/disk_full.h"

namespace mlcore::python {
namespace {

// A C++ exception carrying the Python exception type it becomes. ThrowIfError is often called
// right after a gil_scoped_release block ends, or from code that never held the GIL, so it must
// not touch the Python C API: it throws this, and the translator registered below (which
// pybind11 runs with the GIL held) sets the Python error.
class BuiltinError : public std::runtime_error {
 public:
  BuiltinError(PyObject* type, const std::string& message, int error_number = 0)
      : std::runtime_error(message), type_(type), errno_(error_number) {}
  PyObject* type() const { return type_; }
  // For OSError: its errno (0: none).
  int error_number() const { return errno_; }

 private:
  PyObject* type_;
  int errno_;
};

}  // namespace

void ThrowIfError(const Status& status) {
  if (status.ok()) return;
  std::string message(status.message());
  if (IsTypeError(status)) throw py::type_error(message);
  if (IsFileNotFound(status)) throw BuiltinError(PyExc_FileNotFoundError, message);
  if (IsDiskFull(status)) throw BuiltinError(PyExc_OSError, message, ENOSPC);
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      throw py::value_error(message);
    case absl::StatusCode::kNotFound:
      throw py::key_error(message);
    // The builtin exception objects are static: reading their addresses needs no GIL.
    case absl::StatusCode::kDeadlineExceeded:
      throw BuiltinError(PyExc_TimeoutError, message);
    case absl::StatusCode::kUnimplemented:  // Unimplemented maps to NotImplementedError
      throw BuiltinError(PyExc_NotImplementedError, message);
    case absl::StatusCode::kPermissionDenied:
      throw BuiltinError(PyExc_PermissionError, message);
    case absl::StatusCode::kResourceExhausted:
      throw BuiltinError(PyExc_MemoryError, message);
    case absl::StatusCode::kCancelled:
      throw BuiltinError(PyExc_KeyboardInterrupt, message);
    default:
      throw std::runtime_error(message);
  }
}

void RegisterStatusTranslator() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const BuiltinError& e) {
      if (e.error_number() == 0) {
        PyErr_SetString(e.type(), e.what());
        return;
      }
      // OSError(errno, text): Python fills .errno and .strerror from the pair.
      PyObject* args = Py_BuildValue("(is)", e.error_number(), e.what());
      if (args == nullptr) return;  // Py_BuildValue left its own error set
      PyErr_SetObject(e.type(), args);
      Py_DECREF(args);
    }
  });
}

}  // namespace mlcore::python

// Shared by the binding files: one Bind* function per module, and the conversion of absl::Status
// into Python exceptions. Bindings convert types and release the GIL; no logic lives here.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

#include "mlcore/core/status.h"

namespace mlcore::python {

namespace py = pybind11;

void BindCore(py::module_& m);
void BindTensor(py::module_& m);
void BindStore(py::module_& m);
void BindOps(py::module_& m);

// Later modules register their binders from their own files, so adding a module's bindings
// touches no shared file:
//   static BinderRegistration reg("hpo", "Hyperparameter search", &BindHpo);
// makes mlcore._mlcore.hpo and calls BindHpo on it when the extension loads. Several files may
// register binders for one submodule (bindings/hpo_*.cc): they run in `order`, lowest first, so
// the types a binder's signatures name are bound before it.
using Binder = void (*)(py::module_& submodule);
struct BinderRegistration {
  BinderRegistration(const char* submodule, const char* doc, Binder binder, int order = 0);
};
// Calls every registered binder, submodule by submodule in name order, each on its submodule.
void RunRegisteredBinders(py::module_& m);

// Raises the Python exception that fits `status` (ValueError, KeyError, TypeError,
// TimeoutError, RuntimeError...) with its message. No-op for OK. Throws C++ exceptions only
// (pybind11 turns them into Python ones with the GIL held), so it is safe without the GIL.
void ThrowIfError(const Status& status);
// Installs the translator for ThrowIfError's TimeoutError, PermissionError, MemoryError,
// NotImplementedError and KeyboardInterrupt; called once when the extension loads.
void RegisterStatusTranslator();

template <typename T>
T Unwrap(StatusOr<T>&& value) {
  if (!value.ok()) ThrowIfError(value.status());
  return *std::move(value);
}

}  // namespace mlcore::python

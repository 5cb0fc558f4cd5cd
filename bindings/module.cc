// The extension module mlcore._mlcore; python/mlcore/ re-exports it with a friendlier face.
#include <pybind11/pybind11.h>

#include <map>
#include <string>
#include <utility>

#include "bindings.h"

namespace mlcore::python {
namespace {

struct Registered {
  std::string doc;
  std::multimap<int, Binder> binders;  // by order; equal orders in registration order
};

// Filled by static initialisers in the binding files, before PYBIND11_MODULE runs.
std::map<std::string, Registered>& Registry() {
  static auto* registry = new std::map<std::string, Registered>();
  return *registry;
}

}  // namespace

BinderRegistration::BinderRegistration(const char* submodule, const char* doc, Binder binder,
                                       int order) {
  Registered& entry = Registry()[submodule];
  if (entry.doc.empty()) entry.doc = doc;
  entry.binders.emplace(order, binder);
}

void RunRegisteredBinders(py::module_& m) {
  for (auto& [name, entry] : Registry()) {
    auto sub = m.def_submodule(name.c_str(), entry.doc.c_str());
    for (auto& [order, binder] : entry.binders) binder(sub);
  }
}

}  // namespace mlcore::python

PYBIND11_MODULE(_mlcore, m) {
  m.doc() = "mlcore's C++ core (see the mlcore package for the documented API)";
  mlcore::python::RegisterStatusTranslator();
  mlcore::python::BindCore(m);
  mlcore::python::BindTensor(m);
  auto ops = m.def_submodule("ops", "Elementwise kernels and reductions (CPU and CUDA twins)");
  mlcore::python::BindOps(ops);
  auto store = m.def_submodule("store", "The metadata store (SQLite) and the artifact store");
  mlcore::python::BindStore(store);
  mlcore::python::RunRegisteredBinders(m);
}

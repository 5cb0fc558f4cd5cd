// The extension module mlcore._mlcore; python/mlcore/ re-exports it with a friendlier face.
#include <pybind11/pybind11.h>

#include "bindings.h"

PYBIND11_MODULE(_mlcore, m) {
  m.doc() = "mlcore's C++ core (see the mlcore package for the documented API)";
  mlcore::python::BindCore(m);
  mlcore::python::BindTensor(m);
  auto ops = m.def_submodule("ops", "Elementwise kernels and reductions (CPU and CUDA twins)");
  mlcore::python::BindOps(ops);
  auto store = m.def_submodule("store", "The metadata store (SQLite) and the artifact store");
  mlcore::python::BindStore(store);
}

// mlcore._mlcore.nn_models: a model's summary table and class probabilities (nn/inspect.h), for
// both model kinds.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "convert.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/inspect.h"
#include "mlcore/nn/sequential.h"

namespace mlcore::python {
namespace {

template <typename M>
void BindInspectFor(py::module_& m) {
  m.def(
      "model_summary", [](const M& model) { return Released([&] { return nn::Summary(model); }); },
      py::arg("model"));
  m.def(
      "probabilities",
      [](const M& model, const nn::TensorList& outputs) {
        return Released([&] { return nn::Probabilities(model, outputs); });
      },
      py::arg("model"), py::arg("outputs"));
}

void BindInspect(py::module_& m) {
  BindInspectFor<nn::Sequential>(m);
  BindInspectFor<nn::GraphModel>(m);
}

BinderRegistration reg("nn_models", "", &BindInspect, 10);

}  // namespace
}  // namespace mlcore::python

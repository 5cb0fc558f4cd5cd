// mlcore.optim: optimisers and learning-rate schedules as opaque C++ objects handed to
// Sequential.compile. No logic: constructors forward to the C++ factories.
#include <pybind11/stl.h>

#include "bindings.h"
#include "mlcore/optim/clip.h"
#include "mlcore/optim/optimizer.h"
#include "mlcore/optim/schedule.h"

namespace mlcore::python {
namespace {

void BindOptim(py::module_& m) {
  using optim::LRSchedule;
  using optim::Optimizer;
  using py::arg;
  py::class_<Optimizer, std::shared_ptr<Optimizer>>(m, "Optimizer",
                                                    "Updates parameters from their gradients.")
      .def_property_readonly("name", &Optimizer::name)
      .def_property_readonly("config", &Optimizer::config)
      .def_property_readonly("steps", &Optimizer::steps)
      .def_property("lr", &Optimizer::learning_rate, &Optimizer::set_learning_rate)
      .def("__repr__", [](const Optimizer& o) {
        return "<mlcore.optim " + o.name() + " lr=" + std::to_string(o.learning_rate()) + ">";
      });
  m.def(
      "sgd",
      [](double lr, double momentum, bool nesterov, double weight_decay) {
        return Unwrap(optim::Sgd({lr, momentum, nesterov, weight_decay}));
      },
      arg("lr") = 0.01, arg("momentum") = 0.0, arg("nesterov") = false, arg("weight_decay") = 0.0);
  m.def(
      "adam",
      [](double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
        optim::AdamOptions o{lr, beta1, beta2, eps, weight_decay};
        return Unwrap(decoupled ? optim::AdamW(o) : optim::Adam(o));
      },
      arg("lr") = 1e-3, arg("beta1") = 0.9, arg("beta2") = 0.999, arg("eps") = 1e-8,
      arg("weight_decay") = 0.0, arg("decoupled") = false);
  m.def(
      "make_optimizer",
      [](const std::string& name, const std::map<std::string, double>& config) {
        return Unwrap(optim::MakeOptimizer(name, config));
      },
      arg("name"), arg("config"));

  py::class_<LRSchedule, std::shared_ptr<LRSchedule>>(m, "LRSchedule",
                                                      "Learning rate as a function of the step.")
      .def("__call__", &LRSchedule::LearningRate, arg("step"), arg("base_lr"));
  m.def(
      "step_decay",
      [](int64_t step_size, double gamma) { return Unwrap(optim::StepDecay(step_size, gamma)); },
      arg("step_size"), arg("gamma"));
  m.def(
      "cosine_decay",
      [](int64_t total, double min_lr) { return Unwrap(optim::CosineDecay(total, min_lr)); },
      arg("total_steps"), arg("min_lr") = 0.0);
  m.def(
      "linear_warmup",
      [](int64_t warmup, std::shared_ptr<LRSchedule> after) {
        return Unwrap(optim::LinearWarmup(warmup, std::move(after)));
      },
      arg("warmup_steps"), arg("after") = nullptr);
}

static BinderRegistration reg("optim", "Optimisers and learning-rate schedules", &BindOptim);

}  // namespace
}  // namespace mlcore::python

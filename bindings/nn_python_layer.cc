// mlcore._mlcore.nn: layers written in Python. A subclass of mlcore.nn.Layer (python/mlcore/nn/
// layer.py) becomes an nn::FunctionLayer whose three steps call the Python object with the GIL;
// the C++ layer owns the parameters and hands their tensors to Python on every call, so what the
// optimiser, checkpoints and the data-parallel reducer update is what Python reads.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "bindings.h"
#include "convert.h"
#include "foreign_thread.h"
#include "mlcore/nn/function_layer.h"
#include "nn_common.h"

namespace mlcore::python {
namespace {

using nn::FunctionLayer;
using nn::Parameter;

// The C++ side of one Python layer object; `python_layer` gives the object back.
class PyFunctionLayer : public FunctionLayer {
 public:
  PyFunctionLayer(std::string type, nn::LayerConfig config, nn::FunctionLayerSteps steps,
                  PyCallable owner)
      : FunctionLayer(std::move(type), std::move(config), std::move(steps)),
        owner_(std::move(owner)) {}
  const py::object& python_layer() const { return owner_.get(); }

 private:
  PyCallable owner_;
};

// [(value, grad), ...] in slot order: tensors sharing the parameters' memory.
py::list ParameterTensors(FunctionLayer& layer) {
  py::list out;
  for (Parameter* p : layer.parameters()) out.append(py::make_tuple(p->value, p->grad));
  return out;
}

// What a Python step returned, as a float32 tensor the layer owns: an mlcore.Tensor as is,
// anything array-like copied (it may be a view of memory Python frees next); None -> undefined.
StatusOr<Tensor> ReturnedTensor(const py::object& r, const std::string& what) {
  if (r.is_none()) return Tensor();
  if (py::isinstance<Tensor>(r)) return r.cast<Tensor>();
  py::module_ np = py::module_::import("numpy");
  py::array a;
  try {
    a = np.attr("ascontiguousarray")(r, "float32");
  } catch (py::error_already_set& e) {
    return TypeError(what + " must return an array or an mlcore.Tensor, got " + TypeName(r) + " (" +
                     e.what() + ")");
  }
  Shape shape(a.shape(), a.shape() + a.ndim());
  MLCORE_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape, DType::kFloat32));
  std::memcpy(t.data(), a.data(), t.nbytes());
  return t;
}

// Calls a step with the GIL; a Python exception becomes an error naming the layer and step,
// Ctrl-C stops training like a callback's (nn_common.h).
template <typename... Args>
StatusOr<py::object> CallStep(const PyCallable& fn, Args&&... args) {
  if (InterpreterFinalizing()) return absl::CancelledError("the Python interpreter is exiting");
  return nn_bindings::CallStoppingOnCtrlC(fn, std::forward<Args>(args)...);
}

nn::FunctionLayerSteps StepsFor(const py::object& obj, const std::string& type) {
  PyCallable build(obj.attr("_mlcore_build"), "layer '" + type + "': build");
  PyCallable forward(obj.attr("_mlcore_forward"), "layer '" + type + "': forward");
  PyCallable backward(obj.attr("_mlcore_backward"), "layer '" + type + "': backward");
  nn::FunctionLayerSteps s;
  s.build = [build](FunctionLayer& l, const Shape& in, uint64_t seed) -> StatusOr<Shape> {
    return RunWithGil([&]() -> StatusOr<Shape> {
      auto add = py::cpp_function([&l](const std::string& slot, const Shape& shape) {
        Parameter* p = Unwrap(l.AddParameter(slot, shape));
        return p->value;
      });
      MLCORE_ASSIGN_OR_RETURN(py::object r, CallStep(build, add, in, seed));
      try {
        return r.cast<Shape>();
      } catch (py::cast_error&) {
        return TypeError(l.type() + ".build must return the output shape (a tuple of ints) " +
                         "or None, got " + TypeName(r));
      }
    });
  };
  s.forward = [forward](FunctionLayer& l, const Tensor& x, bool training) -> StatusOr<Tensor> {
    return RunWithGil([&]() -> StatusOr<Tensor> {
      MLCORE_ASSIGN_OR_RETURN(py::object r, CallStep(forward, x, training, ParameterTensors(l)));
      return ReturnedTensor(r, l.type() + ".forward");
    });
  };
  const bool has_backward = py::hasattr(obj, "backward") && !obj.attr("backward").is_none();
  if (has_backward) {
    s.backward = [backward](FunctionLayer& l, const Tensor& g) -> StatusOr<Tensor> {
      return RunWithGil([&]() -> StatusOr<Tensor> {
        MLCORE_ASSIGN_OR_RETURN(py::object r,
                                CallStep(backward, g, l.input_grad_needed(), ParameterTensors(l)));
        return ReturnedTensor(r, l.type() + ".backward");
      });
    };
  }
  return s;
}

std::shared_ptr<nn::Layer> CoreLayer(py::object obj, const std::string& type,
                                     const nn::LayerConfig& config) {
  if (type.empty()) throw py::value_error("a Python layer needs a layer type name");
  nn::FunctionLayerSteps steps = StepsFor(obj, type);
  return std::make_shared<PyFunctionLayer>(type, config, std::move(steps),
                                           PyCallable(std::move(obj), "layer '" + type + "'"));
}

// Python layer types by name. The C++ registry entry is made once per name and looks the class
// up here, so redefining a class (a notebook cell run again) replaces it. Leaked on purpose: the
// objects must not be released after the interpreter is gone.
struct PythonLayerTypes {
  std::mutex mu;
  std::map<std::string, PyCallable> factories;
};
PythonLayerTypes& Types() {
  static auto* types = new PythonLayerTypes;
  return *types;
}

void RegisterPythonLayer(const std::string& type, py::object factory) {
  auto& types = Types();
  std::lock_guard lock(types.mu);
  const bool known = types.factories.count(type) != 0;
  if (!known && nn::LayerRegistry().Contains(type)) {
    throw py::value_error("layer type '" + type +
                          "' is taken by a built-in layer; give the class another layer_type");
  }
  types.factories.insert_or_assign(
      type, PyCallable(std::move(factory), "layer type '" + type + "' factory"));
  if (known) return;
  ThrowIfError(nn::RegisterLayer(
      type, [type](const nn::LayerConfig& config) -> StatusOr<std::shared_ptr<nn::Layer>> {
        std::optional<PyCallable> factory;
        {
          std::lock_guard lock(Types().mu);
          factory = Types().factories.at(type);
        }
        return RunWithGil([&]() -> StatusOr<std::shared_ptr<nn::Layer>> {
          MLCORE_ASSIGN_OR_RETURN(py::object r, factory->Call(config));
          return r.cast<std::shared_ptr<nn::Layer>>();
        });
      }));
}

void BindPythonLayers(py::module_& m) {
  py::class_<FunctionLayer, nn::Layer, std::shared_ptr<FunctionLayer>>(
      m, "FunctionLayer", "A layer whose build, forward and backward are callables.")
      .def_property_readonly("slots", &FunctionLayer::slots);
  py::class_<PyFunctionLayer, FunctionLayer, std::shared_ptr<PyFunctionLayer>>(
      m, "PythonLayerCore", "The C++ side of a layer written in Python (mlcore.nn.Layer).")
      .def_property_readonly("python_layer", &PyFunctionLayer::python_layer)
      // Attributes the C++ side lacks (the user's own members and methods) come from the
      // Python object, so model.layers[i] reads like the layer the user wrote.
      .def("__getattr__",
           [](const PyFunctionLayer& l, const std::string& name) {
             return l.python_layer().attr(name.c_str());
           })
      .def("__repr__", [](const PyFunctionLayer& l) {
        const std::string cls = py::type::of(l.python_layer()).attr("__name__").cast<std::string>();
        return "<mlcore.nn " + l.type() + (l.name().empty() ? "" : " '" + l.name() + "'") +
               " (Python " + cls + ")>";
      });
  m.def("python_layer_core", &CoreLayer, py::arg("layer"), py::arg("type"),
        py::arg("config") = nn::LayerConfig{},
        "The C++ layer that calls `layer`'s _mlcore_build/_mlcore_forward/_mlcore_backward.");
  m.def("register_python_layer", &RegisterPythonLayer, py::arg("type"), py::arg("factory"),
        "Makes saved models with layers of `type` loadable: factory(config) -> C++ layer.");
}

BinderRegistration reg("nn", "", &BindPythonLayers, 10);

}  // namespace
}  // namespace mlcore::python

// mlcore.ops: the elementwise kernels. Arguments are mlcore Tensors (numpy arrays convert to
// zero-copy views implicitly); the GIL is released while a kernel runs, and statuses become
// ValueError / TypeError with the C++ message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <utility>

#include "bindings.h"
#include "convert.h"
#include "mlcore/core/tensor.h"
#include "mlcore/ops/elementwise.h"

namespace mlcore::python {
namespace {

// A dtype given by name ("float16", "bf16") or as anything numpy.dtype() accepts (np.float32).
DType DTypeArg(const py::object& dtype) {
  if (py::isinstance<py::str>(dtype)) return Unwrap(ParseDType(dtype.cast<std::string>()));
  return Unwrap(ParseDType(py::str(py::dtype::from_args(dtype).attr("name")).cast<std::string>()));
}

// f(a, b) or, with `out`, f_into(a, b, out) returning `out` itself (the caller's object, as
// numpy's out= does).
template <typename New, typename Into>
py::object Binary(const Tensor& a, const Tensor& b, const py::object& out, New fresh, Into into) {
  if (out.is_none()) return py::cast(Released([&] { return fresh(a, b); }));
  Tensor target = out.cast<Tensor>();
  Released([&] { return into(a, b, target); });
  return out;
}

}  // namespace

void BindOps(py::module_& m) {
  using py::arg;
  m.def(
      "fill", [](Tensor& t, double value) { Released([&] { return ops::Fill(t, value); }); },
      arg("t"), arg("value"),
      "Sets every element of t to value, converted as cast converts (bool: value != 0).");
  m.def(
      "cast",
      [](const Tensor& x, const py::object& dtype) {
        const DType dt = DTypeArg(dtype);
        return Released([&] { return ops::Cast(x, dt); });
      },
      arg("x"), arg("dtype"),
      "A new tensor holding x converted to dtype. Floats to integers truncate and saturate "
      "(NaN gives 0); to float16/bfloat16 rounds to nearest even.");
  m.def(
      "add",
      [](const Tensor& a, const Tensor& b, const py::object& out) {
        return Binary(a, b, out, ops::Add, ops::AddInto);
      },
      arg("a"), arg("b"), arg("out") = py::none(),
      "a + b (same dtype, shape and device; no broadcasting). With out=, writes there and "
      "returns it.");
  m.def(
      "mul",
      [](const Tensor& a, const Tensor& b, const py::object& out) {
        return Binary(a, b, out, ops::Mul, ops::MulInto);
      },
      arg("a"), arg("b"), arg("out") = py::none(),
      "a * b (same dtype, shape and device; no broadcasting). With out=, writes there and "
      "returns it.");
  m.def(
      "axpy",
      [](double alpha, const Tensor& x, Tensor& y) {
        Released([&] { return ops::Axpy(alpha, x, y); });
      },
      arg("alpha"), arg("x"), arg("y"), "y += alpha * x in place (floating dtypes).");
  m.def(
      "sum", [](const Tensor& x) { return Released([&] { return ops::Sum(x); }); }, arg("x"),
      "The sum of all elements as a 0-d tensor on x's device: float32 for float16/bfloat16/"
      "float32, float64 for float64, int64 for integers and bool. Floats accumulate in float64.");
  m.def(
      "sum_to_float",
      [](const Tensor& x) {
        StatusOr<double> result = absl::UnknownError("not run");
        {
          py::gil_scoped_release release;
          result = ops::SumToDouble(x);
        }
        return Unwrap(std::move(result));
      },
      arg("x"), "The sum of all elements as a Python float.");
}

}  // namespace mlcore::python

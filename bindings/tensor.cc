// mlcore.Tensor and its zero-copy bridges: the buffer protocol (numpy views the tensor), numpy
// arrays in (mlcore views the array), and DLPack both ways. Views keep their owner alive: a
// tensor made from an array holds a reference to it, and an array made from a tensor holds the
// tensor.
#include "mlcore/core/tensor.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "dlpack_bridge.h"
#include "mlcore/core/cuda.h"

namespace mlcore::python {
namespace {

// Drops a Python reference from any thread: storage may be released where the GIL is not held.
std::function<void()> KeepAlive(py::object owner) {
  auto* held = new py::object(std::move(owner));
  return [held] {
    if (!Py_IsInitialized()) return;  // interpreter gone: leak rather than crash at exit
    py::gil_scoped_acquire gil;
    delete held;
  };
}

const char* BufferFormat(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "?";
    case DType::kUInt8:
      return "B";
    case DType::kInt32:
      return "i";
    case DType::kInt64:
      return "q";
    case DType::kFloat16:
      return "e";
    case DType::kFloat32:
      return "f";
    case DType::kFloat64:
      return "d";
    case DType::kBFloat16:
      break;
  }
  return nullptr;
}

StatusOr<DType> DTypeFromNumpy(const py::dtype& dt) {
  // Read through Python attributes: the C struct layout of dtypes changed in numpy 2.
  const char kind = py::str(dt.attr("kind")).cast<std::string>()[0];
  const ssize_t size = dt.attr("itemsize").cast<ssize_t>();
  if (kind == 'b' && size == 1) return DType::kBool;
  if (kind == 'u' && size == 1) return DType::kUInt8;
  if (kind == 'i' && size == 4) return DType::kInt32;
  if (kind == 'i' && size == 8) return DType::kInt64;
  if (kind == 'f' && size == 2) return DType::kFloat16;
  if (kind == 'f' && size == 4) return DType::kFloat32;
  if (kind == 'f' && size == 8) return DType::kFloat64;
  std::string name = py::str(dt.attr("name"));
  return TypeError("numpy dtype '" + name +
                   "' is not supported by mlcore (supported: bool, uint8, int32, int64, "
                   "float16, float32, float64; bfloat16 arrives through DLPack)");
}

Tensor FromNumpy(py::array array) {
  DType dtype = Unwrap(DTypeFromNumpy(array.dtype()));
  if (!(array.flags() & py::array::c_style)) {
    throw py::value_error(
        "mlcore.from_numpy: the array is not C-contiguous (strides " +
        std::string(py::str(array.attr("strides"))) +
        "), so it cannot be viewed without a copy; pass np.ascontiguousarray(x), or use "
        "mlcore.tensor(x), which copies");
  }
  if (!array.writeable()) {
    throw py::value_error(
        "mlcore.from_numpy: the array is read-only; a zero-copy tensor could write into it. "
        "Pass a writable array, or use mlcore.tensor(x), which copies");
  }
  Shape shape(array.shape(), array.shape() + array.ndim());
  void* data = array.mutable_data();
  return Unwrap(Tensor::FromBlob(data, shape, dtype, Device::CPU(), KeepAlive(array)));
}

py::buffer_info ToBuffer(Tensor& t) {
  if (!t.device().is_cpu()) {
    throw py::value_error("tensor on " + t.device().ToString() +
                          " cannot be viewed as a host buffer; call .cpu() first");
  }
  const char* format = BufferFormat(t.dtype());
  if (format == nullptr) {
    throw py::type_error(
        "bfloat16 has no numpy buffer format; cast it (mlcore.ops.cast(t, 'float32')) or share "
        "it through DLPack with a framework that has bfloat16");
  }
  std::vector<ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<ssize_t> strides(shape.size());
  ssize_t stride = static_cast<ssize_t>(DTypeSize(t.dtype()));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<ssize_t>(shape[i], 1);
  }
  return py::buffer_info(t.data(), static_cast<ssize_t>(DTypeSize(t.dtype())), format,
                         static_cast<ssize_t>(shape.size()), shape, strides);
}

Device DeviceArg(const py::object& device) {
  return Unwrap(ParseDevice(py::str(device).cast<std::string>()));
}

// Tensor.__dlpack__ (the array API's protocol): a capsule of this tensor's memory, a copy when
// `copy` asks for one; a cross-device request is BufferError.
py::capsule DLPackExport(const Tensor& t, py::object stream, py::object max_version,
                         py::object dl_device, py::object copy) {
  // DLPack 1.x when the consumer says it understands it (max_version >= (1, 0)).
  bool versioned = !max_version.is_none() && max_version.cast<std::pair<int, int>>().first >= 1;
  if (!copy.is_none() && copy.cast<bool>()) {
    Tensor c = Unwrap(t.Clone());
    return ToDLPack(c, versioned);
  }
  if (!dl_device.is_none()) {
    auto requested = dl_device.cast<std::pair<int, int>>();
    auto mine = DLPackDevice(t).cast<std::pair<int, int>>();
    if (requested != mine) {
      PyErr_SetString(PyExc_BufferError,
                      "mlcore.Tensor.__dlpack__: cross-device export needs copy; use "
                      ".to(device) first");
      throw py::error_already_set();
    }
  }
  if (t.device().is_cuda()) {
    // mlcore queues its kernels on the legacy default stream, which every stream
    // the consumer names is ordered after; synchronising makes the hand-off safe.
    py::gil_scoped_release release;
    ThrowIfError(cuda::Synchronize(t.device().index));
  }
  return ToDLPack(t, versioned);
}

void BindTensorAttributes(py::class_<Tensor>& cls) {
  cls.def(py::init(&FromNumpy), py::arg("array"),
          "A zero-copy view of a C-contiguous, writable numpy array.")
      .def_buffer(&ToBuffer)
      .def_property_readonly("shape",
                             [](const Tensor& t) {
                               py::tuple shape(t.dim());
                               for (int64_t i = 0; i < t.dim(); ++i) shape[i] = t.shape()[i];
                               return shape;
                             })
      .def_property_readonly("dtype", [](const Tensor& t) { return DTypeName(t.dtype()); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device().ToString(); })
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("size", &Tensor::numel, "Number of elements.")
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def_property_readonly("itemsize", [](const Tensor& t) { return DTypeSize(t.dtype()); })
      .def_property_readonly("data_ptr",
                             [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data()); })
      .def_property_readonly(
          "owns_memory", [](const Tensor& t) { return t.storage()->owns_memory(); },
          "False when the tensor views memory it borrowed (numpy, DLPack).")
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw py::type_error("len() of a 0-dimensional tensor");
        return t.shape()[0];
      });
}

void BindTensorMethods(py::class_<Tensor>& cls) {
  cls.def(
         "to",
         [](const Tensor& t, const py::object& device) {
           Device target = DeviceArg(device);
           py::gil_scoped_release release;
           return Unwrap(t.To(target));
         },
         py::arg("device"), "A copy on `device` ('cpu', 'cuda', 'cuda:N').")
      .def("clone",
           [](const Tensor& t) {
             py::gil_scoped_release release;
             return Unwrap(t.Clone());
           })
      .def(
          "copy_",
          [](Tensor& t, const Tensor& src) {
            py::gil_scoped_release release;
            ThrowIfError(t.CopyFrom(src));
            return t;
          },
          py::arg("src"), "Copies src's elements into this tensor, across devices if needed.")
      .def(
          "reshape",
          [](const Tensor& t, py::args args) {
            Shape shape;
            if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) {
              shape = args[0].cast<Shape>();
            } else {
              shape = args.cast<Shape>();
            }
            return Unwrap(t.Reshape(shape));
          },
          "A view with another shape (one dimension may be -1).")
      .def(
          "slice",
          [](const Tensor& t, int64_t start, int64_t stop) { return Unwrap(t.Slice(start, stop)); },
          py::arg("start"), py::arg("stop"), "A view of rows [start, stop).")
      .def("shares_memory_with", &Tensor::SharesStorageWith)
      .def("__dlpack__", &DLPackExport, py::kw_only(), py::arg("stream") = py::none(),
           py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(),
           py::arg("copy") = py::none())
      .def("__dlpack_device__", &DLPackDevice)
      .def("__repr__", &Tensor::ToString);
}

void BindTensorFactories(py::module_& m) {
  py::implicitly_convertible<py::array, Tensor>();

  m.def("from_numpy", &FromNumpy, py::arg("array"),
        "A zero-copy Tensor viewing a C-contiguous, writable numpy array (kept alive by it).");
  m.def("from_dlpack", &FromDLPack, py::arg("x"),
        "A zero-copy Tensor from any object with __dlpack__ (numpy, PyTorch, CuPy, JAX) or a "
        "DLPack capsule.");
  m.def(
      "empty",
      [](const Shape& shape, const std::string& dtype, const py::object& device) {
        DType dt = Unwrap(ParseDType(dtype));
        Device dev = DeviceArg(device);
        py::gil_scoped_release release;
        return Unwrap(Tensor::Empty(shape, dt, dev));
      },
      py::arg("shape"), py::arg("dtype") = "float32", py::arg("device") = "cpu");
  m.def(
      "zeros",
      [](const Shape& shape, const std::string& dtype, const py::object& device) {
        DType dt = Unwrap(ParseDType(dtype));
        Device dev = DeviceArg(device);
        py::gil_scoped_release release;
        return Unwrap(Tensor::Zeros(shape, dt, dev));
      },
      py::arg("shape"), py::arg("dtype") = "float32", py::arg("device") = "cpu");
}

}  // namespace

void BindTensor(py::module_& m) {
  py::class_<Tensor> cls(m, "Tensor", py::buffer_protocol(), R"doc(
A dense, contiguous, row-major array on the CPU or a CUDA device.

np.asarray(t) and np.from_dlpack(t) view it without a copy; mlcore.from_numpy(a) and
mlcore.from_dlpack(x) view other arrays without a copy.)doc");
  BindTensorAttributes(cls);
  BindTensorMethods(cls);
  BindTensorFactories(m);
}

}  // namespace mlcore::python

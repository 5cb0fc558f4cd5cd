// mlcore.Tensor and its zero-copy bridges: the buffer protocol (numpy views the tensor), numpy
// arrays in (mlcore views the array), and DLPack both ways. Views keep their owner alive: a
// tensor made from an array holds a reference to it, and an array made from a tensor holds the
// tensor.
#include <dlpack/dlpack.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "mlcore/core/tensor.h"

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
    case DType::kBool: return "?";
    case DType::kUInt8: return "B";
    case DType::kInt32: return "i";
    case DType::kInt64: return "q";
    case DType::kFloat16: return "e";
    case DType::kFloat32: return "f";
    case DType::kFloat64: return "d";
    case DType::kBFloat16: break;
  }
  return nullptr;
}

StatusOr<DType> DTypeFromNumpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const ssize_t size = dt.itemsize();
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

// DLPack ------------------------------------------------------------------------------------

DLDataType ToDLDataType(DType dtype) {
  DLDataType dl{};
  dl.lanes = 1;
  dl.bits = static_cast<uint8_t>(DTypeSize(dtype) * 8);
  switch (dtype) {
    case DType::kBool: dl.code = 6; break;  // kDLBool (DLPack >= 0.8; older readers see uint8)
    case DType::kUInt8: dl.code = kDLUInt; break;
    case DType::kInt32:
    case DType::kInt64: dl.code = kDLInt; break;
    case DType::kBFloat16: dl.code = kDLBfloat; break;
    default: dl.code = kDLFloat; break;
  }
  return dl;
}

StatusOr<DType> FromDLDataType(DLDataType dl) {
  if (dl.lanes == 1) {
    if (dl.code == 6 && dl.bits == 8) return DType::kBool;
    if (dl.code == kDLUInt && dl.bits == 8) return DType::kUInt8;
    if (dl.code == kDLInt && dl.bits == 32) return DType::kInt32;
    if (dl.code == kDLInt && dl.bits == 64) return DType::kInt64;
    if (dl.code == kDLFloat && dl.bits == 16) return DType::kFloat16;
    if (dl.code == kDLFloat && dl.bits == 32) return DType::kFloat32;
    if (dl.code == kDLFloat && dl.bits == 64) return DType::kFloat64;
    if (dl.code == kDLBfloat && dl.bits == 16) return DType::kBFloat16;
  }
  static const char* kCodes[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  std::string code = dl.code < 7 ? kCodes[dl.code] : "code " + std::to_string(dl.code);
  return TypeError("DLPack dtype " + code + std::to_string(dl.bits) +
                   (dl.lanes != 1 ? "x" + std::to_string(dl.lanes) : "") +
                   " is not supported by mlcore");
}

struct ExportContext {
  Tensor tensor;  // keeps the storage alive while the consumer holds the DLPack tensor
  std::vector<int64_t> shape;
  DLManagedTensor managed{};
};

void DeleteExport(DLManagedTensor* managed) {
  delete static_cast<ExportContext*>(managed->manager_ctx);
}

void DestroyCapsule(PyObject* capsule) {
  // A consumer renames the capsule to "used_dltensor" and owns the deleter from then on.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
  }
}

py::capsule ToDLPack(const Tensor& t) {
  auto* ctx = new ExportContext{t, t.shape(), {}};
  DLTensor& dl = ctx->managed.dl_tensor;
  dl.data = t.storage()->data();
  dl.byte_offset = t.byte_offset();
  dl.device = t.device().is_cpu() ? DLDevice{kDLCPU, 0} : DLDevice{kDLCUDA, t.device().index};
  dl.ndim = static_cast<int32_t>(t.dim());
  dl.dtype = ToDLDataType(t.dtype());
  dl.shape = ctx->shape.data();
  dl.strides = nullptr;  // compact row-major
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = DeleteExport;
  PyObject* capsule = PyCapsule_New(&ctx->managed, "dltensor", DestroyCapsule);
  if (capsule == nullptr) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(capsule);
}

bool IsCompactRowMajor(const DLTensor& dl) {
  if (dl.strides == nullptr) return true;
  int64_t expected = 1;
  for (int i = dl.ndim - 1; i >= 0; --i) {
    if (dl.shape[i] != 1 && dl.strides[i] != expected) return false;
    expected *= dl.shape[i];
  }
  return true;
}

Tensor FromDLPackCapsule(py::capsule capsule) {
  if (!PyCapsule_IsValid(capsule.ptr(), "dltensor")) {
    throw py::value_error(
        "mlcore.from_dlpack: expected an unconsumed 'dltensor' capsule (a capsule can be "
        "consumed only once)");
  }
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  const DLTensor& dl = managed->dl_tensor;
  DType dtype = Unwrap(FromDLDataType(dl.dtype));
  Device device;
  if (dl.device.device_type == kDLCPU || dl.device.device_type == kDLCUDAHost) {
    device = Device::CPU();
  } else if (dl.device.device_type == kDLCUDA) {
    device = Device::CUDA(dl.device.device_id);
  } else {
    throw py::value_error("mlcore.from_dlpack: DLPack device type " +
                          std::to_string(dl.device.device_type) +
                          " is not supported (CPU and CUDA are)");
  }
  if (!IsCompactRowMajor(dl)) {
    throw py::value_error(
        "mlcore.from_dlpack: the tensor is not contiguous row-major, so it cannot be viewed "
        "without a copy; make it contiguous first (e.g. x.contiguous() or np.ascontiguousarray)");
  }
  Shape shape(dl.shape, dl.shape + dl.ndim);
  void* data = static_cast<char*>(dl.data) + dl.byte_offset;
  auto tensor = Tensor::FromBlob(data, shape, dtype, device, [managed] {
    if (managed->deleter != nullptr) managed->deleter(managed);
  });
  if (!tensor.ok()) ThrowIfError(tensor.status());
  PyCapsule_SetName(capsule.ptr(), "used_dltensor");
  return *std::move(tensor);
}

Tensor FromDLPack(py::object obj) {
  if (PyCapsule_CheckExact(obj.ptr())) return FromDLPackCapsule(obj.cast<py::capsule>());
  if (!py::hasattr(obj, "__dlpack__")) {
    throw py::type_error("mlcore.from_dlpack: " + std::string(py::str(py::type::of(obj))) +
                         " has no __dlpack__ method");
  }
  return FromDLPackCapsule(obj.attr("__dlpack__")().cast<py::capsule>());
}

py::tuple DLPackDevice(const Tensor& t) {
  return t.device().is_cpu() ? py::make_tuple(static_cast<int>(kDLCPU), 0)
                             : py::make_tuple(static_cast<int>(kDLCUDA), t.device().index);
}

Device DeviceArg(const py::object& device) {
  return Unwrap(ParseDevice(py::str(device).cast<std::string>()));
}

}  // namespace

void BindTensor(py::module_& m) {
  py::class_<Tensor> cls(m, "Tensor", py::buffer_protocol(), R"doc(
A dense, contiguous, row-major array on the CPU or a CUDA device.

np.asarray(t) and np.from_dlpack(t) view it without a copy; mlcore.from_numpy(a) and
mlcore.from_dlpack(x) view other arrays without a copy.)doc");
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
      .def("__len__",
           [](const Tensor& t) {
             if (t.dim() == 0) throw py::type_error("len() of a 0-dimensional tensor");
             return t.shape()[0];
           })
      .def(
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
      .def("slice", [](const Tensor& t, int64_t start, int64_t stop) {
        return Unwrap(t.Slice(start, stop));
      }, py::arg("start"), py::arg("stop"), "A view of rows [start, stop).")
      .def("shares_memory_with", &Tensor::SharesStorageWith)
      .def(
          "__dlpack__",
          [](const Tensor& t, py::object stream, py::object max_version, py::object dl_device,
             py::object copy) {
            if (!copy.is_none() && copy.cast<bool>()) {
              Tensor c = Unwrap(t.Clone());
              return ToDLPack(c);
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
            return ToDLPack(t);
          },
          py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
          py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__", &DLPackDevice)
      .def("__repr__", &Tensor::ToString);

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

}  // namespace mlcore::python

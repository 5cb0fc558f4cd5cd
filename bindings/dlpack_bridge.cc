#include "dlpack_bridge.h"

#include <string>
#include <vector>

#include "../src/core/tensor_dlpack.h"
#include "bindings.h"

namespace mlcore::python {
namespace {

// The DLPack 1.x managed tensor, laid out as the specification defines it (the dlpack.h that
// Debian ships is 0.6, which predates it). DLTensor itself is unchanged between the two.
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr uint64_t kDLReadOnly = 1;
constexpr uint8_t kDLBoolCode = 6;  // kDLBool, added to DLPack after 0.6 (ToDLDataType)
constexpr const char* kLegacyName = "dltensor";
constexpr const char* kVersionedName = "dltensor_versioned";

DLDataType ToDLDataType(DType dtype) {
  DLDataType dl{};
  dl.lanes = 1;
  dl.bits = static_cast<uint8_t>(DTypeSize(dtype) * 8);
  switch (dtype) {
    case DType::kBool:
      dl.code = kDLBoolCode;
      break;
    case DType::kUInt8:
      dl.code = kDLUInt;
      break;
    case DType::kInt32:
    case DType::kInt64:
      dl.code = kDLInt;
      break;
    case DType::kBFloat16:
      dl.code = kDLBfloat;
      break;
    default:
      dl.code = kDLFloat;
      break;
  }
  return dl;
}

// Owns what the consumer sees: a Tensor (keeping the storage alive), the shape array and the
// managed struct of either kind.
struct ExportContext {
  Tensor tensor;
  std::vector<int64_t> shape;
  DLManagedTensor legacy{};
  DLManagedTensorVersioned versioned{};
};

void FillDLTensor(ExportContext& ctx, DLTensor& dl) {
  const Tensor& t = ctx.tensor;
  dl.data = t.storage()->data();
  dl.byte_offset = t.byte_offset();
  dl.device = t.device().is_cpu() ? DLDevice{kDLCPU, 0} : DLDevice{kDLCUDA, t.device().index};
  dl.ndim = static_cast<int32_t>(t.dim());
  dl.dtype = ToDLDataType(t.dtype());
  dl.shape = ctx.shape.data();
  dl.strides = nullptr;  // compact row-major
}

template <typename Managed>
void DeleteExport(Managed* managed) {
  delete static_cast<ExportContext*>(managed->manager_ctx);
}

// Runs when a capsule dies; a consumer that took ownership renamed it, so only unconsumed
// capsules still carry the export.
template <typename Managed>
void DestroyCapsule(PyObject* capsule, const char* name) {
  if (PyCapsule_IsValid(capsule, name)) {
    auto* managed = static_cast<Managed*>(PyCapsule_GetPointer(capsule, name));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
  }
}
void DestroyLegacy(PyObject* c) { DestroyCapsule<DLManagedTensor>(c, kLegacyName); }
void DestroyVersioned(PyObject* c) { DestroyCapsule<DLManagedTensorVersioned>(c, kVersionedName); }

// Views `dl` as a Tensor whose release runs `release` (the producer's deleter); the checks are
// core's (src/core/tensor_dlpack.h), fuzzed by fuzz/dlpack_fuzzer.cc.
Tensor ViewDLTensor(const DLTensor& dl, std::function<void()> release) {
  StatusOr<Tensor> t = internal::ViewDLTensor(dl, std::move(release));
  if (!t.ok() && !IsTypeError(t.status())) {
    throw py::value_error("mlcore.from_dlpack: " + std::string(t.status().message()));
  }
  return Unwrap(std::move(t));
}

Tensor FromCapsule(py::capsule capsule) {
  PyObject* c = capsule.ptr();
  if (PyCapsule_IsValid(c, kVersionedName)) {
    auto* managed = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, kVersionedName));
    if (managed->version.major > 1) {
      throw py::value_error("mlcore.from_dlpack: DLPack version " +
                            std::to_string(managed->version.major) + " is newer than 1.x");
    }
    if (managed->flags & kDLReadOnly) {
      throw py::value_error(
          "mlcore.from_dlpack: the producer marked the tensor read-only; a zero-copy tensor "
          "could write into it. Use mlcore.tensor(x), which copies");
    }
    Tensor t = ViewDLTensor(managed->dl_tensor, [managed] {
      if (managed->deleter != nullptr) managed->deleter(managed);
    });
    PyCapsule_SetName(c, "used_dltensor_versioned");
    return t;
  }
  if (PyCapsule_IsValid(c, kLegacyName)) {
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, kLegacyName));
    Tensor t = ViewDLTensor(managed->dl_tensor, [managed] {
      if (managed->deleter != nullptr) managed->deleter(managed);
    });
    PyCapsule_SetName(c, "used_dltensor");
    return t;
  }
  throw py::value_error(
      "mlcore.from_dlpack: expected an unconsumed 'dltensor' or 'dltensor_versioned' capsule (a "
      "capsule can be consumed only once)");
}

}  // namespace

py::capsule ToDLPack(const Tensor& t, bool versioned) {
  auto* ctx = new ExportContext{t, t.shape(), {}, {}};
  PyObject* capsule = nullptr;
  if (versioned) {
    ctx->versioned.version = {1, 0};
    ctx->versioned.manager_ctx = ctx;
    ctx->versioned.deleter = DeleteExport<DLManagedTensorVersioned>;
    ctx->versioned.flags = 0;
    FillDLTensor(*ctx, ctx->versioned.dl_tensor);
    capsule = PyCapsule_New(&ctx->versioned, kVersionedName, DestroyVersioned);
  } else {
    ctx->legacy.manager_ctx = ctx;
    ctx->legacy.deleter = DeleteExport<DLManagedTensor>;
    FillDLTensor(*ctx, ctx->legacy.dl_tensor);
    capsule = PyCapsule_New(&ctx->legacy, kLegacyName, DestroyLegacy);
  }
  if (capsule == nullptr) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(capsule);
}

Tensor FromDLPack(py::object obj) {
  if (PyCapsule_CheckExact(obj.ptr())) return FromCapsule(obj.cast<py::capsule>());
  if (!py::hasattr(obj, "__dlpack__")) {
    throw py::type_error("mlcore.from_dlpack: " + std::string(py::str(py::type::of(obj))) +
                         " has no __dlpack__ method");
  }
  py::object capsule;
  try {
    capsule = obj.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    capsule = obj.attr("__dlpack__")();  // a producer from before DLPack 1.0
  }
  return FromCapsule(capsule.cast<py::capsule>());
}

py::tuple DLPackDevice(const Tensor& t) {
  return t.device().is_cpu() ? py::make_tuple(static_cast<int>(kDLCPU), 0)
                             : py::make_tuple(static_cast<int>(kDLCUDA), t.device().index);
}

}  // namespace mlcore::python

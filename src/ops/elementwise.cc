// The public elementwise ops: every argument check happens here, once, with a message that names
// the op and both operands, and then the tensors' device picks the CPU or the CUDA twin.
#include "mlcore/ops/elementwise.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/cuda_internal.h"
#include "core/strings.h"
#include "ops/elementwise.h"

// A build without CUDA has no cuda:: twins to link against; CheckDeviceUsable() has already
// refused CUDA tensors there, so the call below is never reached.
#if defined(MLCORE_WITH_CUDA)
#define MLCORE_OPS_CUDA(call) (call)
#else
#define MLCORE_OPS_CUDA(call) absl::InternalError("mlcore was built without CUDA")
#endif

namespace mlcore::ops {
namespace {

using internal::AV;

Status CheckDefined(const char* op, const char* name, const Tensor& t) {
  if (t.defined()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("ops::", op, ": ", name, " is an undefined tensor"));
}

// CUDA tensors need a build with CUDA and a device that answers; the core says which is missing.
Status CheckDeviceUsable(const char* op, const Tensor& t) {
  const Status status = internal::CheckCudaDevice(t.device());
  if (status.ok()) return status;
  return Status(status.code(), absl::StrCat("ops::", op, ": ", status.message()));
}

// `x` and `y` must agree on device, dtype (unless `same_dtype` is false) and shape.
Status CheckMatch(const char* op, const char* x_name, const Tensor& x, const char* y_name,
                  const Tensor& y, bool same_dtype = true) {
  MLCORE_RETURN_IF_ERROR(CheckDefined(op, x_name, x));
  MLCORE_RETURN_IF_ERROR(CheckDefined(op, y_name, y));
  if (x.device() != y.device()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ops::", op, ": ", x_name, " is on ", x.device().ToString(), " but ", y_name, " is on ",
        y.device().ToString(), "; move one with Tensor::To so both are on one device"));
  }
  if (same_dtype && x.dtype() != y.dtype()) {
    return TypeError(absl::StrCat("ops::", op, ": ", x_name, " is ", AV(DTypeName(x.dtype())),
                                  " but ", y_name, " is ", AV(DTypeName(y.dtype())),
                                  "; mlcore does not promote dtypes, Cast one of them first"));
  }
  if (x.shape() != y.shape()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ops::", op, ": ", x_name, " has shape ", ShapeToString(x.shape()), " but ", y_name,
        " has shape ", ShapeToString(y.shape()), "; mlcore does not broadcast"));
  }
  return absl::OkStatus();
}

// An output may be the very same memory as an input (in place), or disjoint from it. Anything
// in between would let one chunk overwrite elements another chunk has yet to read.
Status CheckNoPartialOverlap(const char* op, const char* in_name, const Tensor& in,
                             const Tensor& out) {
  const auto* in_begin = static_cast<const char*>(in.data());
  const auto* out_begin = static_cast<const char*>(out.data());
  const bool disjoint = in.nbytes() == 0 || out.nbytes() == 0 ||
                        in_begin + in.nbytes() <= out_begin || out_begin + out.nbytes() <= in_begin;
  const bool identical = in_begin == out_begin && in.nbytes() == out.nbytes();
  if (disjoint || identical) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("ops::", op, ": out partially overlaps ", in_name,
                   "; pass the same tensor for an in-place op, or memory that does not overlap"));
}

Status CheckArithmetic(const char* op, DType dtype) {
  if (dtype != DType::kBool) return absl::OkStatus();
  return TypeError(absl::StrCat("ops::", op,
                                ": bool tensors are not supported; "
                                "Cast to uint8 or int32 first"));
}

enum class Binary { kAdd, kMul };

Status CheckBinaryInputs(const char* op, const Tensor& a, const Tensor& b) {
  MLCORE_RETURN_IF_ERROR(CheckMatch(op, "a", a, "b", b));
  MLCORE_RETURN_IF_ERROR(CheckArithmetic(op, a.dtype()));
  return CheckDeviceUsable(op, a);
}

// The checks are done: run the twin for the tensors' device.
Status RunBinary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
  if (out.numel() == 0) return absl::OkStatus();
  if (out.device().is_cpu()) {
    return op == Binary::kAdd ? cpu::Add(a, b, out) : cpu::Mul(a, b, out);
  }
  return op == Binary::kAdd ? MLCORE_OPS_CUDA(cuda::Add(a, b, out))
                            : MLCORE_OPS_CUDA(cuda::Mul(a, b, out));
}

StatusOr<Tensor> BinaryNew(const char* name, Binary op, const Tensor& a, const Tensor& b) {
  MLCORE_RETURN_IF_ERROR(CheckBinaryInputs(name, a, b));
  MLCORE_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(a.shape(), a.dtype(), a.device()));
  MLCORE_RETURN_IF_ERROR(RunBinary(op, a, b, out));
  return out;
}

Status BinaryInto(const char* name, Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
  MLCORE_RETURN_IF_ERROR(CheckBinaryInputs(name, a, b));
  MLCORE_RETURN_IF_ERROR(CheckMatch(name, "a", a, "out", out));
  MLCORE_RETURN_IF_ERROR(CheckNoPartialOverlap(name, "a", a, out));
  MLCORE_RETURN_IF_ERROR(CheckNoPartialOverlap(name, "b", b, out));
  return RunBinary(op, a, b, out);
}

Status RunCast(const Tensor& x, Tensor& out) {
  if (out.numel() == 0) return absl::OkStatus();
  if (out.device().is_cpu()) return cpu::Cast(x, out);
  return MLCORE_OPS_CUDA(cuda::Cast(x, out));
}

}  // namespace

Status Fill(Tensor& tensor, double value) {
  MLCORE_RETURN_IF_ERROR(CheckDefined("Fill", "tensor", tensor));
  MLCORE_RETURN_IF_ERROR(CheckDeviceUsable("Fill", tensor));
  if (tensor.numel() == 0) return absl::OkStatus();
  if (tensor.device().is_cpu()) return cpu::Fill(tensor, value);
  return MLCORE_OPS_CUDA(cuda::Fill(tensor, cpu::FillPattern(tensor.dtype(), value)));
}

StatusOr<Tensor> Cast(const Tensor& x, DType dtype) {
  MLCORE_RETURN_IF_ERROR(CheckDefined("Cast", "x", x));
  MLCORE_RETURN_IF_ERROR(CheckDeviceUsable("Cast", x));
  MLCORE_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(x.shape(), dtype, x.device()));
  MLCORE_RETURN_IF_ERROR(RunCast(x, out));
  return out;
}

Status CastInto(const Tensor& x, Tensor& out) {
  MLCORE_RETURN_IF_ERROR(CheckMatch("CastInto", "x", x, "out", out, /*same_dtype=*/false));
  MLCORE_RETURN_IF_ERROR(CheckDeviceUsable("CastInto", x));
  MLCORE_RETURN_IF_ERROR(CheckNoPartialOverlap("CastInto", "x", x, out));
  if (x.data() == out.data() && DTypeSize(x.dtype()) != DTypeSize(out.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ops::CastInto: x (", AV(DTypeName(x.dtype())), ") and out (", AV(DTypeName(out.dtype())),
        ") share memory but differ in element size; cast into a separate tensor"));
  }
  return RunCast(x, out);
}

StatusOr<Tensor> Add(const Tensor& a, const Tensor& b) {
  return BinaryNew("Add", Binary::kAdd, a, b);
}

StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b) {
  return BinaryNew("Mul", Binary::kMul, a, b);
}

Status AddInto(const Tensor& a, const Tensor& b, Tensor& out) {
  return BinaryInto("AddInto", Binary::kAdd, a, b, out);
}

Status MulInto(const Tensor& a, const Tensor& b, Tensor& out) {
  return BinaryInto("MulInto", Binary::kMul, a, b, out);
}

Status Axpy(double alpha, const Tensor& x, Tensor& y) {
  MLCORE_RETURN_IF_ERROR(CheckMatch("Axpy", "x", x, "y", y));
  if (!IsFloatingPoint(y.dtype())) {
    return TypeError(absl::StrCat("ops::Axpy: x and y are ", AV(DTypeName(y.dtype())),
                                  "; axpy supports the floating dtypes only (float16, bfloat16, "
                                  "float32, float64)"));
  }
  MLCORE_RETURN_IF_ERROR(CheckDeviceUsable("Axpy", y));
  MLCORE_RETURN_IF_ERROR(CheckNoPartialOverlap("Axpy", "x", x, y));
  if (y.numel() == 0) return absl::OkStatus();
  if (y.device().is_cpu()) return cpu::Axpy(alpha, x, y);
  return MLCORE_OPS_CUDA(cuda::Axpy(alpha, x, y));
}

StatusOr<Tensor> Sum(const Tensor& x) {
  MLCORE_RETURN_IF_ERROR(CheckDefined("Sum", "x", x));
  MLCORE_RETURN_IF_ERROR(CheckDeviceUsable("Sum", x));
  MLCORE_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({}, SumDType(x.dtype()), x.device()));
  if (x.device().is_cpu()) {
    MLCORE_RETURN_IF_ERROR(cpu::Sum(x, out));
  } else {
    MLCORE_RETURN_IF_ERROR(MLCORE_OPS_CUDA(cuda::Sum(x, out)));
  }
  return out;
}

StatusOr<double> SumToDouble(const Tensor& x) {
  MLCORE_ASSIGN_OR_RETURN(Tensor sum, Sum(x));
  if (!sum.device().is_cpu()) {
    MLCORE_ASSIGN_OR_RETURN(sum, sum.To(Device::CPU()));
  }
  switch (sum.dtype()) {
    case DType::kFloat32:
      return static_cast<double>(*sum.data<float>());
    case DType::kFloat64:
      return *sum.data<double>();
    default:
      return static_cast<double>(*sum.data<int64_t>());
  }
}

}  // namespace mlcore::ops

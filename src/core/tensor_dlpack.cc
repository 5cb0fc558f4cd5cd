#include "core/tensor_dlpack.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace mlcore::internal {
namespace {

constexpr uint8_t kDLBoolCode = 6;  // kDLBool, added to DLPack after 0.6

// Row-major and compact, with every product checked: strides of a huge shape must not
// overflow into a value that looks compact.
StatusOr<bool> IsCompactRowMajor(const DLTensor& dl) {
  if (dl.strides == nullptr) return true;
  for (int i = 0; i < dl.ndim; ++i) {
    if (dl.shape[i] == 0) return true;  // no elements: any strides describe the same nothing
  }
  int64_t expected = 1;
  for (int i = dl.ndim - 1; i >= 0; --i) {
    if (dl.shape[i] != 1 && dl.strides[i] != expected) return false;
    if (__builtin_mul_overflow(expected, dl.shape[i], &expected)) {
      return absl::InvalidArgumentError("DLPack tensor: its number of elements overflows");
    }
  }
  return true;
}

}  // namespace

StatusOr<DType> FromDLDataType(DLDataType dl) {
  if (dl.lanes == 1) {
    if (dl.code == kDLBoolCode && dl.bits == 8) return DType::kBool;
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

StatusOr<Tensor> ViewDLTensor(const DLTensor& dl, std::function<void()> release) {
  MLCORE_ASSIGN_OR_RETURN(DType dtype, FromDLDataType(dl.dtype));
  Device device;
  if (dl.device.device_type == kDLCPU || dl.device.device_type == kDLCUDAHost) {
    device = Device::CPU();
  } else if (dl.device.device_type == kDLCUDA && dl.device.device_id >= 0) {
    device = Device::CUDA(dl.device.device_id);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("DLPack device type ", static_cast<int>(dl.device.device_type), " (id ",
                     dl.device.device_id, ") is not supported (CPU and CUDA are)"));
  }
  if (dl.ndim < 0 || (dl.ndim > 0 && dl.shape == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat("DLPack tensor: ndim ", dl.ndim,
                                                   dl.ndim < 0 ? " is negative"
                                                               : " without a "
                                                                 "shape array"));
  }
  bool empty = false;
  for (int i = 0; i < dl.ndim; ++i) {
    if (dl.shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("DLPack tensor: dimension ", i, " is negative (", dl.shape[i], ")"));
    }
    empty = empty || dl.shape[i] == 0;
  }
  MLCORE_ASSIGN_OR_RETURN(bool compact, IsCompactRowMajor(dl));
  if (!compact) {
    return absl::InvalidArgumentError(
        "the tensor is not contiguous row-major, so it cannot be viewed without a copy; make it "
        "contiguous first (x.contiguous(), np.ascontiguousarray(x)) or use mlcore.tensor(x), "
        "which copies");
  }
  if (dl.data == nullptr && !empty) {
    return absl::InvalidArgumentError("DLPack tensor: no data pointer for a non-empty tensor");
  }
  Shape shape(dl.shape, dl.shape + dl.ndim);
  void* data = dl.data == nullptr ? nullptr : static_cast<char*>(dl.data) + dl.byte_offset;
  return Tensor::FromBlob(data, shape, dtype, device, std::move(release));
}

}  // namespace mlcore::internal

// A dense, contiguous, row-major n-dimensional array on one device. Tensors share their Storage:
// copying a Tensor, Reshape and Slice make views of the same memory, never copies. Storage
// either owns its memory (from the device's allocator) or borrows someone else's (a numpy
// array, a DLPack producer) and calls a release function when the last view goes away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "mlcore/core/device.h"
#include "mlcore/core/dtype.h"
#include "mlcore/core/status.h"

namespace mlcore {

using Shape = std::vector<int64_t>;

// Product of the dimensions; InvalidArgument on a negative dimension or on overflow.
StatusOr<int64_t> NumElements(absl::Span<const int64_t> shape);
// Bytes of a dense `dtype` tensor of `shape`: the one place a byte size is computed from a
// shape, so no caller can wrap (2**62 float32 elements is 2**64 bytes, which wraps to 0).
// InvalidArgument naming the shape when the elements or the bytes do not fit in int64.
StatusOr<size_t> NumBytes(absl::Span<const int64_t> shape, DType dtype);
// "[2, 3]".
std::string ShapeToString(absl::Span<const int64_t> shape);

class Storage {
 public:
  // Owning memory from GetAllocator(device).
  static StatusOr<std::shared_ptr<Storage>> Allocate(size_t nbytes, Device device);
  // Borrowed memory; `release` (may be empty) runs once when the storage is destroyed.
  static std::shared_ptr<Storage> Borrow(void* data, size_t nbytes, Device device,
                                         std::function<void()> release);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool owns_memory() const { return owns_; }

 private:
  Storage(void* data, size_t nbytes, Device device, bool owns, std::function<void()> release);
  void* data_;
  size_t nbytes_;
  Device device_;
  bool owns_;
  std::function<void()> release_;
};

class Tensor {
 public:
  // An undefined tensor (no storage); defined() is false.
  Tensor() = default;

  static StatusOr<Tensor> Empty(const Shape& shape, DType dtype, Device device = Device::CPU());
  static StatusOr<Tensor> Zeros(const Shape& shape, DType dtype, Device device = Device::CPU());
  // Views `data` without copying. The caller keeps the memory alive until `release` runs.
  static StatusOr<Tensor> FromBlob(void* data, const Shape& shape, DType dtype, Device device,
                                   std::function<void()> release = {});
  // Copies `values` into a new CPU tensor; its size must match `shape`.
  template <typename T>
  static StatusOr<Tensor> FromVector(const std::vector<T>& values, const Shape& shape);
  // Wraps an existing storage at `byte_offset`; the view must fit inside it.
  static StatusOr<Tensor> FromStorage(std::shared_ptr<Storage> storage, size_t byte_offset,
                                      const Shape& shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * DTypeSize(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::CPU(); }
  void* data() const;
  // Typed pointer; nullptr when T does not match dtype().
  template <typename T>
  T* data() const {
    return kDTypeOf<T> == dtype_ ? static_cast<T*>(data()) : nullptr;
  }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t byte_offset() const { return byte_offset_; }
  bool SharesStorageWith(const Tensor& other) const {
    return storage_ != nullptr && storage_ == other.storage_;
  }

  // A copy on `device`; on the same device this still copies.
  StatusOr<Tensor> To(Device device) const;
  StatusOr<Tensor> Clone() const { return To(device()); }
  // Copies src's elements into this tensor (same dtype and element count, any devices).
  Status CopyFrom(const Tensor& src);
  // A view with another shape of the same element count; one dimension may be -1.
  StatusOr<Tensor> Reshape(const Shape& shape) const;
  // A view of rows [start, stop) along the first dimension (stays contiguous).
  StatusOr<Tensor> Slice(int64_t start, int64_t stop) const;
  // "Tensor(float32, [2, 3], cpu)".
  std::string ToString() const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t byte_offset_ = 0;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::kFloat32;
};

template <typename T>
StatusOr<Tensor> Tensor::FromVector(const std::vector<T>& values, const Shape& shape) {
  MLCORE_ASSIGN_OR_RETURN(int64_t n, NumElements(shape));
  if (n != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError("Tensor::FromVector: " + std::to_string(values.size()) +
                                      " values do not fill shape " + ShapeToString(shape));
  }
  MLCORE_ASSIGN_OR_RETURN(Tensor t, Empty(shape, kDTypeOf<T>));
  if (n > 0) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace mlcore

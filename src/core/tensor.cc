#include "mlcore/core/tensor.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cuda_internal.h"
#include "mlcore/core/allocator.h"

namespace mlcore {

StatusOr<int64_t> NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has a negative dimension"));
    }
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has too many elements"));
    }
    n *= d;
  }
  return n;
}

StatusOr<size_t> NumBytes(absl::Span<const int64_t> shape, DType dtype) {
  MLCORE_ASSIGN_OR_RETURN(int64_t n, NumElements(shape));
  const int64_t itemsize = static_cast<int64_t>(DTypeSize(dtype));
  if (n > std::numeric_limits<int64_t>::max() / itemsize) {
    return absl::InvalidArgumentError(absl::StrCat("a ", DTypeName(dtype), " tensor of shape ",
                                                   ShapeToString(shape), " has ", n,
                                                   " elements: more bytes than fit in 64 bits"));
  }
  return static_cast<size_t>(n * itemsize);
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

Storage::Storage(void* data, size_t nbytes, Device device, bool owns, std::function<void()> release)
    : data_(data), nbytes_(nbytes), device_(device), owns_(owns), release_(std::move(release)) {}

Storage::~Storage() {
  if (owns_) {
    auto allocator = GetAllocator(device_);
    if (allocator.ok()) (*allocator)->Deallocate(data_, nbytes_);
  } else if (release_) {
    release_();
  }
}

StatusOr<std::shared_ptr<Storage>> Storage::Allocate(size_t nbytes, Device device) {
  MLCORE_ASSIGN_OR_RETURN(Allocator * allocator, GetAllocator(device));
  MLCORE_ASSIGN_OR_RETURN(void* data, allocator->Allocate(nbytes));
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, true, {}));
}

std::shared_ptr<Storage> Storage::Borrow(void* data, size_t nbytes, Device device,
                                         std::function<void()> release) {
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, false, std::move(release)));
}

StatusOr<Tensor> Tensor::FromStorage(std::shared_ptr<Storage> storage, size_t byte_offset,
                                     const Shape& shape, DType dtype) {
  if (storage == nullptr) return absl::InvalidArgumentError("Tensor::FromStorage: null storage");
  MLCORE_ASSIGN_OR_RETURN(size_t need, NumBytes(shape, dtype));
  if (byte_offset > storage->nbytes() || need > storage->nbytes() - byte_offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", DTypeName(dtype), " tensor of shape ", ShapeToString(shape), " needs ", need,
        " bytes at offset ", byte_offset, " but the storage holds ", storage->nbytes()));
  }
  Tensor t;
  t.storage_ = std::move(storage);
  t.byte_offset_ = byte_offset;
  t.shape_ = shape;
  t.numel_ = static_cast<int64_t>(need / DTypeSize(dtype));
  t.dtype_ = dtype;
  return t;
}

StatusOr<Tensor> Tensor::Empty(const Shape& shape, DType dtype, Device device) {
  MLCORE_ASSIGN_OR_RETURN(size_t nbytes, NumBytes(shape, dtype));
  MLCORE_ASSIGN_OR_RETURN(auto storage, Storage::Allocate(nbytes, device));
  return FromStorage(std::move(storage), 0, shape, dtype);
}

StatusOr<Tensor> Tensor::Zeros(const Shape& shape, DType dtype, Device device) {
  MLCORE_ASSIGN_OR_RETURN(Tensor t, Empty(shape, dtype, device));
  if (t.nbytes() == 0) return t;
  if (device.is_cpu()) {
    std::memset(t.data(), 0, t.nbytes());
  } else {
    // All-zero bits are zero for every dtype: copy a zeroed host buffer rather than depend on
    // the ops module from the core.
    std::vector<char> zeros(t.nbytes(), 0);
    MLCORE_RETURN_IF_ERROR(
        internal::CopyBytes(t.data(), device, zeros.data(), Device::CPU(), t.nbytes()));
  }
  return t;
}

StatusOr<Tensor> Tensor::FromBlob(void* data, const Shape& shape, DType dtype, Device device,
                                  std::function<void()> release) {
  MLCORE_ASSIGN_OR_RETURN(size_t nbytes, NumBytes(shape, dtype));
  if (data == nullptr && nbytes > 0) {
    return absl::InvalidArgumentError("Tensor::FromBlob: null data for a non-empty tensor");
  }
  return FromStorage(Storage::Borrow(data, nbytes, device, std::move(release)), 0, shape, dtype);
}

void* Tensor::data() const {
  return storage_ ? static_cast<char*>(storage_->data()) + byte_offset_ : nullptr;
}

StatusOr<Tensor> Tensor::To(Device device) const {
  if (!defined()) return absl::InvalidArgumentError("Tensor::To: the tensor is undefined");
  MLCORE_ASSIGN_OR_RETURN(Tensor out, Empty(shape_, dtype_, device));
  MLCORE_RETURN_IF_ERROR(internal::CopyBytes(out.data(), device, data(), this->device(), nbytes()));
  return out;
}

Status Tensor::CopyFrom(const Tensor& src) {
  if (!defined() || !src.defined()) {
    return absl::InvalidArgumentError("Tensor::CopyFrom: undefined tensor");
  }
  if (src.dtype_ != dtype_ || src.numel_ != numel_) {
    return absl::InvalidArgumentError(absl::StrCat("Tensor::CopyFrom: cannot copy ", src.ToString(),
                                                   " into ", ToString(),
                                                   " (dtype and element count must match)"));
  }
  return internal::CopyBytes(data(), device(), src.data(), src.device(), nbytes());
}

StatusOr<Tensor> Tensor::Reshape(const Shape& shape) const {
  Shape resolved = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      if (infer >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("reshape to ", ShapeToString(shape), ": only one dimension may be -1"));
      }
      infer = static_cast<int>(i);
    } else if (resolved[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reshape to ", ShapeToString(shape), ": negative dimension"));
    } else {
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel_ % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("cannot reshape ", ShapeToString(shape_), " (",
                                                     numel_, " elements) to ",
                                                     ShapeToString(shape)));
    }
    resolved[infer] = numel_ / known;
  }
  MLCORE_ASSIGN_OR_RETURN(int64_t n, NumElements(resolved));
  if (n != numel_) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reshape ", ShapeToString(shape_), " (",
                                                   numel_, " elements) to ",
                                                   ShapeToString(resolved), " (", n, ")"));
  }
  return FromStorage(storage_, byte_offset_, resolved, dtype_);
}

StatusOr<Tensor> Tensor::Slice(int64_t start, int64_t stop) const {
  if (dim() == 0) return absl::InvalidArgumentError("cannot slice a 0-dimensional tensor");
  if (start < 0 || stop < start || stop > shape_[0]) {
    return absl::OutOfRangeError(absl::StrCat("slice [", start, ", ", stop,
                                              ") is outside the first dimension of ",
                                              ShapeToString(shape_)));
  }
  Shape shape = shape_;
  shape[0] = stop - start;
  size_t row_bytes = shape_[0] == 0 ? 0 : nbytes() / static_cast<size_t>(shape_[0]);
  return FromStorage(storage_, byte_offset_ + static_cast<size_t>(start) * row_bytes, shape,
                     dtype_);
}

std::string Tensor::ToString() const {
  if (!defined()) return "Tensor(undefined)";
  return absl::StrCat("Tensor(", DTypeName(dtype_), ", ", ShapeToString(shape_), ", ",
                      device().ToString(), ")");
}

}  // namespace mlcore

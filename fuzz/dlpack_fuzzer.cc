// DLPack tensors as a foreign producer hands them over (what mlcore.from_dlpack unwraps from a
// capsule): the input bytes become a DLTensor's fields (device, ndim, dtype, byte offset, shape
// and perhaps strides) over a fixed buffer. Viewing it must fail cleanly or give a tensor whose
// shape is the claimed one and whose bytes, computed without overflow, are what it says.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../src/core/tensor_dlpack.h"

namespace {

// Reads the next `n` bytes as an integer (zero past the end of the input).
template <typename T>
T Take(const uint8_t*& data, size_t& size) {
  T value{};
  const size_t n = size < sizeof(T) ? size : sizeof(T);
  std::memcpy(&value, data, n);
  data += n;
  size -= n;
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint8_t buffer[4096];
  DLTensor dl{};
  dl.device.device_type = static_cast<DLDeviceType>(Take<uint8_t>(data, size) % 16);
  dl.device.device_id = Take<int8_t>(data, size);
  dl.ndim = Take<int8_t>(data, size);
  dl.dtype.code = Take<uint8_t>(data, size);
  dl.dtype.bits = Take<uint8_t>(data, size);
  dl.dtype.lanes = Take<uint16_t>(data, size);
  dl.byte_offset = Take<uint16_t>(data, size) % sizeof(buffer);
  const uint8_t flags = Take<uint8_t>(data, size);
  const bool with_shape = (flags & 1) == 0;
  const bool with_strides = (flags & 2) != 0;
  dl.data = (flags & 4) != 0 ? nullptr : buffer;
  const size_t dims = dl.ndim > 0 ? static_cast<size_t>(dl.ndim) : 0;
  std::vector<int64_t> shape(dims), strides(dims);
  for (int64_t& d : shape) d = Take<int64_t>(data, size);
  for (int64_t& s : strides) s = Take<int64_t>(data, size);
  dl.shape = with_shape ? shape.data() : nullptr;
  dl.strides = with_strides ? strides.data() : nullptr;

  bool released = false;
  auto t = mlcore::internal::ViewDLTensor(dl, [&released] { released = true; });
  if (!t.ok()) {
    if (released) __builtin_trap();  // the caller still owns the producer's tensor
    return 0;
  }
  if (t->dim() != static_cast<int64_t>(dims)) __builtin_trap();
  for (size_t i = 0; i < dims; ++i) {
    if (t->shape()[i] != shape[i]) __builtin_trap();
  }
  return 0;
}

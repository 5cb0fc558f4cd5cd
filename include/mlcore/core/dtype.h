// Element types of a Tensor. The set is the one numpy, DLPack and the GPU kernels share, plus
// bfloat16, which numpy lacks but DLPack and the kernels carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mlcore/core/half.h"
#include "mlcore/core/status.h"

namespace mlcore {

enum class DType : uint8_t {
  kBool,
  kUInt8,
  kInt32,
  kInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

// Bytes per element.
size_t DTypeSize(DType dtype);
// "bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64".
const char* DTypeName(DType dtype);
// Parses the names above; numpy's short forms ("f4", "half", "double", ...) are accepted too.
// An unknown name is a TypeError naming it.
StatusOr<DType> ParseDType(std::string_view name);
bool IsFloatingPoint(DType dtype);

template <typename T>
struct DTypeTraits;
#define MLCORE_DTYPE_TRAIT_(T, D)     \
  template <>                         \
  struct DTypeTraits<T> {             \
    static constexpr DType value = D; \
  }
MLCORE_DTYPE_TRAIT_(bool, DType::kBool);
MLCORE_DTYPE_TRAIT_(uint8_t, DType::kUInt8);
MLCORE_DTYPE_TRAIT_(int32_t, DType::kInt32);
MLCORE_DTYPE_TRAIT_(int64_t, DType::kInt64);
MLCORE_DTYPE_TRAIT_(float16, DType::kFloat16);
MLCORE_DTYPE_TRAIT_(bfloat16, DType::kBFloat16);
MLCORE_DTYPE_TRAIT_(float, DType::kFloat32);
MLCORE_DTYPE_TRAIT_(double, DType::kFloat64);
#undef MLCORE_DTYPE_TRAIT_

template <typename T>
inline constexpr DType kDTypeOf = DTypeTraits<T>::value;

// Calls fn(T{}) with T the C++ type of `dtype` (float16/bfloat16 for the half types).
template <typename Fn>
decltype(auto) VisitDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kBool:
      return fn(bool{});
    case DType::kUInt8:
      return fn(uint8_t{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kFloat16:
      return fn(float16{});
    case DType::kBFloat16:
      return fn(bfloat16{});
    case DType::kFloat32:
      return fn(float{});
    case DType::kFloat64:
      break;
  }
  return fn(double{});
}

}  // namespace mlcore

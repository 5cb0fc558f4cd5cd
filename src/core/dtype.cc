#include "mlcore/core/dtype.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "strings.h"

namespace mlcore {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kUInt8:
      return 1;
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kFloat64:
      return 8;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "bool";
    case DType::kUInt8:
      return "uint8";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
  }
  return "unknown";
}

StatusOr<DType> ParseDType(std::string_view name) {
  std::string n = absl::AsciiStrToLower(internal::AV(name));
  if (n == "bool" || n == "?" || n == "b1") return DType::kBool;
  if (n == "uint8" || n == "u1" || n == "ubyte") return DType::kUInt8;
  if (n == "int32" || n == "i4" || n == "int") return DType::kInt32;
  if (n == "int64" || n == "i8" || n == "long") return DType::kInt64;
  if (n == "float16" || n == "f2" || n == "half") return DType::kFloat16;
  if (n == "bfloat16" || n == "bf16") return DType::kBFloat16;
  if (n == "float32" || n == "f4" || n == "float" || n == "single") return DType::kFloat32;
  if (n == "float64" || n == "f8" || n == "double") return DType::kFloat64;
  return TypeError(absl::StrCat("unsupported dtype '", internal::AV(name),
                                "': mlcore supports bool, uint8, int32, int64, float16, bfloat16, "
                                "float32 and float64"));
}

bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kFloat32 ||
         dtype == DType::kFloat64;
}

}  // namespace mlcore

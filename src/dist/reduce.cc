#include "dist/reduce.h"

#include <algorithm>

namespace mlcore::dist::internal {
namespace {

template <typename T>
struct AsFloat {
  static float In(T v) { return static_cast<float>(v); }
  static T Out(float v) { return static_cast<T>(v); }
};
template <>
struct AsFloat<float16> {
  static float In(float16 v) { return Float16ToFloat(v); }
  static float16 Out(float v) { return FloatToFloat16(v); }
};
template <>
struct AsFloat<bfloat16> {
  static float In(bfloat16 v) { return BFloat16ToFloat(v); }
  static bfloat16 Out(float v) { return FloatToBFloat16(v); }
};

struct Sum {
  template <typename T>
  static T Apply(T a, T b) {
    return a + b;
  }
};
struct Prod {
  template <typename T>
  static T Apply(T a, T b) {
    return a * b;
  }
};
struct Min {
  template <typename T>
  static T Apply(T a, T b) {
    return std::min(a, b);
  }
};
struct Max {
  template <typename T>
  static T Apply(T a, T b) {
    return std::max(a, b);
  }
};

// Plain arithmetic types: a loop the compiler vectorises.
template <typename T, typename Op>
void Loop(void* out, const void* a, const void* b, size_t n) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = Op::Apply(x[i], y[i]);
}

template <typename T, typename Op>
void HalfLoop(void* out, const void* a, const void* b, size_t n) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) {
    o[i] = AsFloat<T>::Out(Op::Apply(AsFloat<T>::In(x[i]), AsFloat<T>::In(y[i])));
  }
}

template <bool kOr>
void BoolLoop(void* out, const void* a, const void* b, size_t n) {
  uint8_t* o = static_cast<uint8_t*>(out);
  const uint8_t* x = static_cast<const uint8_t*>(a);
  const uint8_t* y = static_cast<const uint8_t*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = kOr ? ((x[i] | y[i]) != 0) : ((x[i] & y[i]) != 0);
}

template <typename T, template <typename, typename> class Kernel>
ReduceFn Pick(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return &Kernel<T, Sum>::Run;
    case ReduceOp::kProduct:
      return &Kernel<T, Prod>::Run;
    case ReduceOp::kMin:
      return &Kernel<T, Min>::Run;
    case ReduceOp::kMax:
      break;
  }
  return &Kernel<T, Max>::Run;
}

template <typename T, typename Op>
struct PlainKernel {
  static void Run(void* out, const void* a, const void* b, size_t n) { Loop<T, Op>(out, a, b, n); }
};
template <typename T, typename Op>
struct HalfKernel {
  static void Run(void* out, const void* a, const void* b, size_t n) {
    HalfLoop<T, Op>(out, a, b, n);
  }
};

template <typename T>
ReduceFn For(ReduceOp op) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) {
    return Pick<T, HalfKernel>(op);
  } else {
    return Pick<T, PlainKernel>(op);
  }
}

}  // namespace

StatusOr<ReduceFn> ReduceFunction(DType dtype, ReduceOp op) {
  if (op == ReduceOp::kAvg && !IsFloatingPoint(dtype)) {
    return TypeError(std::string("avg needs a floating-point tensor, not ") + DTypeName(dtype) +
                     " (use sum and divide)");
  }
  switch (dtype) {
    case DType::kBool:
      return (op == ReduceOp::kSum || op == ReduceOp::kMax) ? &BoolLoop<true> : &BoolLoop<false>;
    case DType::kUInt8:
      return For<uint8_t>(op);
    case DType::kInt32:
      return For<int32_t>(op);
    case DType::kInt64:
      return For<int64_t>(op);
    case DType::kFloat16:
      return For<float16>(op);
    case DType::kBFloat16:
      return For<bfloat16>(op);
    case DType::kFloat32:
      return For<float>(op);
    case DType::kFloat64:
      break;
  }
  return For<double>(op);
}

void Scale(void* data, DType dtype, size_t n, double factor) {
  switch (dtype) {
    case DType::kFloat32: {
      float* p = static_cast<float*>(data);
      float f = static_cast<float>(factor);
      for (size_t i = 0; i < n; ++i) p[i] *= f;
      return;
    }
    case DType::kFloat64: {
      double* p = static_cast<double*>(data);
      for (size_t i = 0; i < n; ++i) p[i] *= factor;
      return;
    }
    case DType::kFloat16: {
      float16* p = static_cast<float16*>(data);
      for (size_t i = 0; i < n; ++i) {
        p[i] = FloatToFloat16(Float16ToFloat(p[i]) * static_cast<float>(factor));
      }
      return;
    }
    case DType::kBFloat16: {
      bfloat16* p = static_cast<bfloat16*>(data);
      for (size_t i = 0; i < n; ++i) {
        p[i] = FloatToBFloat16(BFloat16ToFloat(p[i]) * static_cast<float>(factor));
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace mlcore::dist::internal

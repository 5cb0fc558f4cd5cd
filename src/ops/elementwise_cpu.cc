// CPU twins of the elementwise ops: Eigen maps over chunks of kCpuGrain elements, spread over
// the shared ThreadPool. The 16-bit floats compute in float and round back to nearest even, the
// same arithmetic as kernels/ops/elementwise.cu, so both twins give the same bits.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#include "mlcore/core/thread_pool.h"
#include "ops/elementwise.h"

namespace mlcore::ops::cpu {
namespace {

template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

// Integers add and multiply as their unsigned twins: the same bits as two's-complement
// wrap-around (what numpy and the GPU give), without signed overflow's undefined behaviour.
template <typename T>
struct WrappingOf {
  using type = T;
};
template <typename T>
requires std::is_integral_v<T>
struct WrappingOf<T> {
  using type = std::make_unsigned_t<T>;
};
template <typename T>
using Wrapping = typename WrappingOf<T>::type;

void ParallelChunks(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n < kCpuParallelThreshold) {
    fn(0, n);
    return;
  }
  ThreadPool::Default().ParallelFor(n, kCpuGrain, fn);
}

// The value an element computes with: float for the 16-bit floats, the type itself otherwise.
inline float Widen(float16 v) { return Float16ToFloat(v); }
inline float Widen(bfloat16 v) { return BFloat16ToFloat(v); }
template <typename T>
inline T Widen(T v) {
  return v;
}

// Reads element i. Bools are read as bytes: any nonzero byte is true, as on the GPU, and a byte
// other than 0 or 1 (possible in borrowed memory) is never read through a bool lvalue.
template <typename T>
inline auto Load(const void* p, int64_t i) {
  if constexpr (std::is_same_v<T, bool>) {
    return static_cast<const uint8_t*>(p)[i] != 0;
  } else {
    return static_cast<const T*>(p)[i];
  }
}

template <typename To, typename From>
inline To Convert(From v) {
  auto x = Widen(v);
  using X = decltype(x);
  if constexpr (std::is_same_v<To, float16>) {
    return FloatToFloat16(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, bfloat16>) {
    return FloatToBFloat16(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, bool>) {
    return x != X{0};
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<X>) {
    return SaturatingFloatToInt<To>(x);
  } else {
    return static_cast<To>(x);
  }
}

template <typename T>
void CastFrom(const void* x, DType to, void* out, int64_t n) {
  VisitDType(to, [&](auto to_tag) {
    using To = decltype(to_tag);
    To* dst = static_cast<To*>(out);
    ParallelChunks(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = Convert<To>(Load<T>(x, i));
    });
  });
}

// out = op(a, b) for the 16-bit floats: widen, compute in float, round once.
template <typename T, typename Op>
void HalfBinary(const T* a, const T* b, T* out, int64_t n, Op op) {
  ParallelChunks(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = Convert<T>(op(Widen(a[i]), Widen(b[i])));
    }
  });
}

enum class BinaryOp { kAdd, kMul };

template <typename T>
void Binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if constexpr (kIsHalf<T>) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    if (op == BinaryOp::kAdd) {
      HalfBinary(pa, pb, po, n, [](float x, float y) { return x + y; });
    } else {
      HalfBinary(pa, pb, po, n, [](float x, float y) { return x * y; });
    }
  } else {
    using W = Wrapping<T>;
    const W* pa = static_cast<const W*>(a.data());
    const W* pb = static_cast<const W*>(b.data());
    W* po = static_cast<W*>(out.data());
    ParallelChunks(n, [&](int64_t begin, int64_t end) {
      const int64_t len = end - begin;
      ConstArrayMap<W> ma(pa + begin, len);
      ConstArrayMap<W> mb(pb + begin, len);
      ArrayMap<W> mo(po + begin, len);
      if (op == BinaryOp::kAdd) {
        mo = ma + mb;
      } else {
        mo = ma * mb;
      }
    });
  }
}

// Independent double accumulators, one per lane, so that the compiler can keep several vector
// additions in flight; Eigen's reduction of a float-to-double cast runs one chain and is several
// times slower. The lanes are combined in a fixed order.
template <typename T>
double SumAsDouble(const T* p, int64_t len) {
  constexpr int kLanes = 16;
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(p[i + j]);
  }
  double total = 0;
  for (; i < len; ++i) total += static_cast<double>(p[i]);
  for (double lane : lanes) total += lane;
  return total;
}

// Sum of x[begin, end) in the accumulator type: double for floats, wrapping uint64 for integers.
template <typename T>
auto SumRange(const void* data, int64_t begin, int64_t end) {
  const int64_t len = end - begin;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return SumAsDouble(static_cast<const T*>(data) + begin, len);
  } else if constexpr (kIsHalf<T>) {
    // Widen a block at a time into a buffer Eigen can vectorise over.
    constexpr int64_t kBlock = 2048;
    float buffer[kBlock];
    const T* p = static_cast<const T*>(data);
    double total = 0;
    for (int64_t i = begin; i < end; i += kBlock) {
      const int64_t m = std::min(kBlock, end - i);
      for (int64_t j = 0; j < m; ++j) buffer[j] = Widen(p[i + j]);
      total += SumAsDouble(buffer, m);
    }
    return total;
  } else if constexpr (std::is_same_v<T, bool>) {
    ConstArrayMap<uint8_t> m(static_cast<const uint8_t*>(data) + begin, len);
    return static_cast<uint64_t>((m != 0).count());
  } else {
    return ConstArrayMap<T>(static_cast<const T*>(data) + begin, len)
        .template cast<uint64_t>()
        .sum();
  }
}

}  // namespace

uint64_t FillPattern(DType dtype, double value) {
  return VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T converted = Convert<T>(value);
    uint64_t pattern = 0;
    std::memcpy(&pattern, &converted, sizeof(T));
    return pattern;
  });
}

Status Fill(Tensor& tensor, double value) {
  const uint64_t pattern = FillPattern(tensor.dtype(), value);
  void* data = tensor.data();
  auto fill = [&](auto word) {
    using W = decltype(word);
    W* p = static_cast<W*>(data);
    const W w = static_cast<W>(pattern);
    ParallelChunks(tensor.numel(),
                   [&](int64_t begin, int64_t end) { std::fill(p + begin, p + end, w); });
  };
  switch (DTypeSize(tensor.dtype())) {
    case 1:
      fill(uint8_t{});
      break;
    case 2:
      fill(uint16_t{});
      break;
    case 4:
      fill(uint32_t{});
      break;
    default:
      fill(uint64_t{});
      break;
  }
  return absl::OkStatus();
}

Status Cast(const Tensor& x, Tensor& out) {
  if (x.dtype() == out.dtype()) {
    if (x.data() != out.data() && x.nbytes() > 0) {
      char* dst = static_cast<char*>(out.data());
      const char* src = static_cast<const char*>(x.data());
      const int64_t size = static_cast<int64_t>(DTypeSize(x.dtype()));
      ParallelChunks(x.numel(), [&](int64_t begin, int64_t end) {
        std::memcpy(dst + begin * size, src + begin * size, (end - begin) * size);
      });
    }
    return absl::OkStatus();
  }
  VisitDType(x.dtype(), [&](auto from_tag) {
    CastFrom<decltype(from_tag)>(x.data(), out.dtype(), out.data(), x.numel());
  });
  return absl::OkStatus();
}

Status Add(const Tensor& a, const Tensor& b, Tensor& out) {
  VisitDType(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) Binary<T>(BinaryOp::kAdd, a, b, out);
  });
  return absl::OkStatus();
}

Status Mul(const Tensor& a, const Tensor& b, Tensor& out) {
  VisitDType(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) Binary<T>(BinaryOp::kMul, a, b, out);
  });
  return absl::OkStatus();
}

Status Axpy(double alpha, const Tensor& x, Tensor& y) {
  const int64_t n = y.numel();
  VisitDType(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      const T a = static_cast<T>(alpha);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      ParallelChunks(n, [&](int64_t begin, int64_t end) {
        ArrayMap<T> my(py + begin, end - begin);
        my = my + a * ConstArrayMap<T>(px + begin, end - begin);
      });
    } else if constexpr (kIsHalf<T>) {
      const float a = static_cast<float>(alpha);
      HalfBinary(y.data<T>(), x.data<T>(), y.data<T>(), n,
                 [a](float yv, float xv) { return yv + a * xv; });
    }
  });
  return absl::OkStatus();
}

Status Sum(const Tensor& x, Tensor& out) {
  const int64_t n = x.numel();
  const int64_t num_chunks = (n + kCpuGrain - 1) / kCpuGrain;
  // One partial per fixed-size chunk, combined in order: the result does not depend on how many
  // threads the pool has.
  VisitDType(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using Acc = decltype(SumRange<T>(nullptr, 0, 0));
    std::vector<Acc> partials(num_chunks, Acc{0});
    constexpr int64_t kSerialChunks = kCpuParallelThreshold / kCpuGrain;
    ThreadPool::Default().ParallelFor(num_chunks, kSerialChunks, [&](int64_t first, int64_t last) {
      for (int64_t c = first; c < last; ++c) {
        partials[c] = SumRange<T>(x.data(), c * kCpuGrain, std::min(n, (c + 1) * kCpuGrain));
      }
    });
    Acc total{0};
    for (Acc p : partials) total += p;
    if constexpr (std::is_same_v<Acc, double>) {
      if (out.dtype() == DType::kFloat64) {
        *out.data<double>() = total;
      } else {
        *out.data<float>() = static_cast<float>(total);
      }
    } else {
      *out.data<int64_t>() = static_cast<int64_t>(total);
    }
  });
  return absl::OkStatus();
}

}  // namespace mlcore::ops::cpu

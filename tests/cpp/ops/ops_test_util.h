// Helpers shared by the ops tests: seeded random tensors of every dtype, element access as
// double, and bitwise comparison. References in the tests are plain scalar loops written here,
// independent of the Eigen and CUDA code under test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "mlcore/core/dtype.h"
#include "mlcore/core/half.h"
#include "mlcore/core/tensor.h"

namespace mlcore::ops::testing {

inline constexpr DType kAllDTypes[] = {DType::kBool,    DType::kUInt8,   DType::kInt32,
                                       DType::kInt64,   DType::kFloat16, DType::kBFloat16,
                                       DType::kFloat32, DType::kFloat64};
inline constexpr DType kFloatDTypes[] = {DType::kFloat16, DType::kBFloat16, DType::kFloat32,
                                         DType::kFloat64};
inline constexpr DType kNumericDTypes[] = {DType::kUInt8,   DType::kInt32,    DType::kInt64,
                                           DType::kFloat16, DType::kBFloat16, DType::kFloat32,
                                           DType::kFloat64};
// Sizes around the CPU chunk (65536 elements), odd sizes and empty tensors.
inline constexpr int64_t kSizes[] = {0, 1, 7, 65535, 65536, 65537, 1000003};

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

inline float ToFloat(float16 v) { return Float16ToFloat(v); }
inline float ToFloat(bfloat16 v) { return BFloat16ToFloat(v); }

template <typename T>
T FromFloat(float f) {
  if constexpr (std::is_same_v<T, float16>) {
    return FloatToFloat16(f);
  } else {
    return FloatToBFloat16(f);
  }
}

// Values spread over the dtype: integers over their whole range (so sums and products wrap),
// floats mostly in [-100, 100] with rare large values, for `special`, infinities and NaN.
template <typename T>
std::vector<T> RandomValues(int64_t n, uint32_t seed, bool special = false) {
  std::mt19937_64 rng(seed);
  std::vector<T> values(n);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      values[i] = (rng() & 1) != 0;
    } else if constexpr (std::is_integral_v<T>) {
      values[i] = static_cast<T>(rng());
    } else {
      double v = std::uniform_real_distribution<double>(-100.0, 100.0)(rng);
      if (special) {
        switch (rng() % 64) {
          case 0:
            v = 1e12;
            break;
          case 1:
            v = -3e9;
            break;
          case 2:
            v = std::numeric_limits<double>::infinity();
            break;
          case 3:
            v = -std::numeric_limits<double>::infinity();
            break;
          case 4:
            v = std::numeric_limits<double>::quiet_NaN();
            break;
          case 5:
            v = 0.0;
            break;
          case 6:
            v = -0.0;
            break;
          case 7:
            v = 1e-6;
            break;
          default:
            break;
        }
      }
      if constexpr (kIsHalf<T>) {
        values[i] = FromFloat<T>(static_cast<float>(v));
      } else {
        values[i] = static_cast<T>(v);
      }
    }
  }
  return values;
}

template <typename T>
Tensor TensorOf(const std::vector<T>& values) {
  auto t = Tensor::FromVector(values, {static_cast<int64_t>(values.size())});
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

// A random 1-d CPU tensor of `dtype`.
inline Tensor RandomTensor(DType dtype, int64_t n, uint32_t seed, bool special = false) {
  return VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      // std::vector<bool> is packed; go through bytes.
      std::vector<uint8_t> bytes = RandomValues<uint8_t>(n, seed);
      auto t = Tensor::Empty({n}, DType::kBool);
      EXPECT_TRUE(t.ok()) << t.status();
      for (int64_t i = 0; i < n; ++i) static_cast<uint8_t*>(t->data())[i] = bytes[i] & 1;
      return *std::move(t);
    } else {
      return TensorOf(RandomValues<T>(n, seed, special));
    }
  });
}

template <typename T>
const T* Data(const Tensor& t) {
  return static_cast<const T*>(t.data());
}

// Element i as double (16-bit floats through float, bool bytes as 0/1).
inline double ElementAsDouble(const Tensor& t, int64_t i) {
  return VisitDType(t.dtype(), [&](auto tag) -> double {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      return static_cast<const uint8_t*>(t.data())[i] != 0 ? 1.0 : 0.0;
    } else if constexpr (kIsHalf<T>) {
      return ToFloat(Data<T>(t)[i]);
    } else {
      return static_cast<double>(Data<T>(t)[i]);
    }
  });
}

// Index of the first element whose bytes differ, or -1.
inline int64_t FirstBitwiseDifference(const Tensor& a, const Tensor& b) {
  const size_t size = DTypeSize(a.dtype());
  const auto* pa = static_cast<const unsigned char*>(a.data());
  const auto* pb = static_cast<const unsigned char*>(b.data());
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::memcmp(pa + i * size, pb + i * size, size) != 0) return i;
  }
  return -1;
}

// Same dtype, shape and bytes; on failure names the first differing element.
inline ::testing::AssertionResult BitwiseEqual(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << actual.ToString() << " vs " << expected.ToString();
  }
  const int64_t i = FirstBitwiseDifference(actual, expected);
  if (i < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << DTypeName(actual.dtype()) << " element " << i << " of " << actual.numel() << ": got "
         << ElementAsDouble(actual, i) << ", expected " << ElementAsDouble(expected, i);
}

}  // namespace mlcore::ops::testing

#include "mlcore/ops/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/ops_test_util.h"

namespace mlcore::ops {
namespace {

using testing::BitwiseEqual;
using testing::Data;
using testing::FromFloat;
using testing::kIsHalf;
using testing::RandomTensor;
using testing::ToFloat;

template <typename T>
T RefAdd(T a, T b) {
  if constexpr (kIsHalf<T>) {
    return FromFloat<T>(ToFloat(a) + ToFloat(b));
  } else if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

template <typename T>
T RefMul(T a, T b) {
  if constexpr (kIsHalf<T>) {
    return FromFloat<T>(ToFloat(a) * ToFloat(b));
  } else if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

template <typename T>
T RefAxpy(double alpha, T x, T y) {
  if constexpr (kIsHalf<T>) {
    return FromFloat<T>(ToFloat(y) + static_cast<float>(alpha) * ToFloat(x));
  } else {
    const T product = static_cast<T>(alpha) * x;
    return y + product;
  }
}

enum class Op { kAdd, kMul };

// The expected result of `op`, element by element.
Tensor Reference(Op op, const Tensor& a, const Tensor& b) {
  Tensor out = *Tensor::Empty(a.shape(), a.dtype());
  VisitDType(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      T* o = static_cast<T*>(out.data());
      for (int64_t i = 0; i < a.numel(); ++i) {
        o[i] = op == Op::kAdd ? RefAdd(Data<T>(a)[i], Data<T>(b)[i])
                              : RefMul(Data<T>(a)[i], Data<T>(b)[i]);
      }
    }
  });
  return out;
}

void CheckBinary(Op op) {
  for (DType dtype : testing::kNumericDTypes) {
    for (int64_t n : testing::kSizes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n);
      const Tensor a = RandomTensor(dtype, n, 1, /*special=*/true);
      const Tensor b = RandomTensor(dtype, n, 2, /*special=*/true);
      const Tensor expected = Reference(op, a, b);

      auto fresh = op == Op::kAdd ? Add(a, b) : Mul(a, b);
      ASSERT_TRUE(fresh.ok()) << fresh.status();
      EXPECT_TRUE(BitwiseEqual(*fresh, expected));

      Tensor out = *Tensor::Empty({n}, dtype);
      ASSERT_TRUE((op == Op::kAdd ? AddInto(a, b, out) : MulInto(a, b, out)).ok());
      EXPECT_TRUE(BitwiseEqual(out, expected));

      Tensor in_place = *a.Clone();
      ASSERT_TRUE(
          (op == Op::kAdd ? AddInto(in_place, b, in_place) : MulInto(in_place, b, in_place)).ok());
      EXPECT_TRUE(BitwiseEqual(in_place, expected));
    }
  }
}

TEST(ElementwiseCpuTest, AddMatchesScalarLoopForEveryDType) { CheckBinary(Op::kAdd); }

TEST(ElementwiseCpuTest, MulMatchesScalarLoopForEveryDType) { CheckBinary(Op::kMul); }

TEST(ElementwiseCpuTest, AxpyMatchesScalarLoopForFloatDTypes) {
  for (DType dtype : testing::kFloatDTypes) {
    for (int64_t n : testing::kSizes) {
      for (double alpha : {0.37, -2.5}) {
        SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n << " alpha=" << alpha);
        const Tensor x = RandomTensor(dtype, n, 3, /*special=*/true);
        Tensor y = RandomTensor(dtype, n, 4, /*special=*/true);
        Tensor expected = *Tensor::Empty({n}, dtype);
        VisitDType(dtype, [&](auto tag) {
          using T = decltype(tag);
          if constexpr (std::is_floating_point_v<T> || kIsHalf<T>) {
            for (int64_t i = 0; i < n; ++i) {
              static_cast<T*>(expected.data())[i] = RefAxpy(alpha, Data<T>(x)[i], Data<T>(y)[i]);
            }
          }
        });
        ASSERT_TRUE(Axpy(alpha, x, y).ok());
        EXPECT_TRUE(BitwiseEqual(y, expected));
      }
    }
  }
}

TEST(ElementwiseCpuTest, AxpyWithItselfDoublesScaled) {
  Tensor y = testing::TensorOf<float>({1.0f, -2.0f, 3.5f});
  ASSERT_TRUE(Axpy(2.0, y, y).ok());
  EXPECT_EQ(Data<float>(y)[0], 3.0f);
  EXPECT_EQ(Data<float>(y)[1], -6.0f);
  EXPECT_EQ(Data<float>(y)[2], 10.5f);
}

TEST(ElementwiseCpuTest, IntegersWrapAround) {
  const Tensor a = testing::TensorOf<int32_t>({std::numeric_limits<int32_t>::max(), -7});
  const Tensor b = testing::TensorOf<int32_t>({1, 3});
  auto sum = Add(a, b);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(Data<int32_t>(*sum)[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(Data<int32_t>(*sum)[1], -4);
  const Tensor u = testing::TensorOf<uint8_t>({200, 16});
  auto product = Mul(u, u);
  ASSERT_TRUE(product.ok());
  EXPECT_EQ(Data<uint8_t>(*product)[0], uint8_t(200 * 200 % 256));
  EXPECT_EQ(Data<uint8_t>(*product)[1], 0);
}

TEST(ElementwiseCpuTest, HalfArithmeticRoundsOnceFromFloat) {
  // 60000 + 60000 overflows float16 but not bfloat16; 1 + 2^-11 is a float16 tie kept at 1.
  const Tensor h = testing::TensorOf<float16>({FloatToFloat16(60000.0f), FloatToFloat16(1.0f)});
  const Tensor d =
      testing::TensorOf<float16>({FloatToFloat16(60000.0f), FloatToFloat16(std::ldexp(1.0f, -11))});
  auto sum = Add(h, d);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(Data<float16>(*sum)[0].bits, 0x7c00);
  EXPECT_EQ(Data<float16>(*sum)[1].bits, 0x3c00);
  const Tensor b = testing::TensorOf<bfloat16>({FloatToBFloat16(60000.0f)});
  auto bsum = Add(b, b);
  ASSERT_TRUE(bsum.ok());
  EXPECT_EQ(BFloat16ToFloat(Data<bfloat16>(*bsum)[0]), 119808.0f);
}

TEST(ElementwiseCpuTest, AddKeepsShape) {
  Tensor a = *Tensor::Empty({2, 3}, DType::kFloat32);
  ASSERT_TRUE(Fill(a, 1.5).ok());
  auto sum = Add(a, a);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Data<float>(*sum)[i], 3.0f);
}

TEST(ElementwiseCpuTest, FillConvertsLikeCast) {
  struct Case {
    DType dtype;
    double value;
    double expected;  // NaN: expect NaN
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Case cases[] = {
      {DType::kBool, 0.5, 1},           {DType::kBool, 0.0, 0},
      {DType::kUInt8, 300.0, 255},      {DType::kUInt8, -4.0, 0},
      {DType::kInt32, -3.9, -3},        {DType::kInt32, 1e20, 2147483647},
      {DType::kInt32, nan, 0},          {DType::kInt64, 123456789012.7, 123456789012},
      {DType::kFloat16, 1e6, INFINITY}, {DType::kFloat16, 0.1, 0.0999755859375},
      {DType::kBFloat16, 3.0, 3.0},     {DType::kFloat32, 0.1, double(0.1f)},
      {DType::kFloat64, 0.1, 0.1},      {DType::kFloat64, nan, nan},
  };
  for (const Case& c : cases) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{65537}, int64_t{1000003}}) {
      SCOPED_TRACE(::testing::Message() << DTypeName(c.dtype) << " " << c.value << " n=" << n);
      Tensor t = *Tensor::Empty({n}, c.dtype);
      ASSERT_TRUE(Fill(t, c.value).ok());
      for (int64_t i : {int64_t{0}, n / 2, n - 1}) {
        if (n == 0) break;
        const double got = testing::ElementAsDouble(t, i);
        if (std::isnan(c.expected)) {
          EXPECT_TRUE(std::isnan(got));
        } else {
          EXPECT_EQ(got, c.expected) << "element " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace mlcore::ops
